# Orienteering course setter: learn the order in which to visit five controls
# (start triangle = control 0, finish back at the triangle) with a masked
# autoregressive policy, REINFORCE with a self-critical (greedy rollout) baseline.
# Stage "club" uses compact park courses, stage "regional" open-terrain courses
# that are longer by construction, so reward (= minus route km) drops there.
import itertools
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_CTRL = 6
STEPS = N_CTRL - 1
PERMS = np.array(list(itertools.permutations(range(1, N_CTRL))))


def make_courses(rng, n, spread_km):
    return (rng.uniform(0.0, 1.0, size=(n, N_CTRL, 2)) * spread_km).astype(np.float32)


def route_km_np(coords, order):
    b = np.arange(coords.shape[0])[:, None]
    full = np.concatenate([np.zeros((order.shape[0], 1), int), order, np.zeros((order.shape[0], 1), int)], axis=1)
    pts = coords[b, full]
    return np.linalg.norm(pts[:, 1:] - pts[:, :-1], axis=-1).sum(-1)


def optimal_km(coords):
    best = np.full(coords.shape[0], np.inf)
    for p in PERMS:
        best = np.minimum(best, route_km_np(coords, np.broadcast_to(p, (coords.shape[0], STEPS))))
    return best


def nearest_neighbour_km(coords):
    n = coords.shape[0]
    cur = np.zeros(n, int)
    seen = np.zeros((n, N_CTRL), bool)
    seen[:, 0] = True
    order = []
    for _ in range(STEPS):
        d = np.linalg.norm(coords - coords[np.arange(n), cur][:, None], axis=-1)
        d[seen] = np.inf
        cur = d.argmin(-1)
        seen[np.arange(n), cur] = True
        order.append(cur)
    return route_km_np(coords, np.stack(order, 1))


class CourseSetter(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(N_CTRL * 2 + N_CTRL * 2, hidden), nn.Tanh(),
            nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, N_CTRL),
        )

    def __call__(self, coords, cur, visited):
        rel = coords - mx.take_along_axis(coords, cur[:, None, None], axis=1)
        x = mx.concatenate([rel.reshape(rel.shape[0], -1), mx.eye(N_CTRL)[cur], visited], axis=-1)
        logits = self.net(x)
        return mx.where(visited > 0, -1e9, logits)


def decode(model, coords, greedy):
    n = coords.shape[0]
    cur = mx.zeros((n,), mx.int32)
    visited = mx.eye(N_CTRL)[mx.zeros((n,), mx.int32)]
    actions = []
    for _ in range(STEPS):
        logits = model(coords, cur, visited)
        nxt = mx.argmax(logits, -1) if greedy else mx.random.categorical(logits)
        nxt = nxt.astype(mx.int32)
        actions.append(nxt)
        visited = visited + mx.eye(N_CTRL)[nxt]
        cur = nxt
    return mx.stop_gradient(mx.stack(actions, 1))


def route_logp(model, coords, actions):
    n = coords.shape[0]
    cur = mx.zeros((n,), mx.int32)
    visited = mx.eye(N_CTRL)[cur]
    total = mx.zeros((n,))
    for t in range(STEPS):
        logits = model(coords, cur, visited)
        lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        a = actions[:, t]
        total = total + mx.take_along_axis(lp, a[:, None], axis=-1).squeeze(-1)
        visited = visited + mx.eye(N_CTRL)[a]
        cur = a
    return total


def route_km(coords, actions):
    n = coords.shape[0]
    start = mx.zeros((n, 1), mx.int32)
    full = mx.concatenate([start, actions, start], axis=1)
    pts = mx.take_along_axis(coords, mx.broadcast_to(full[:, :, None], (n, STEPS + 2, 2)), axis=1)
    return mx.sqrt(((pts[:, 1:] - pts[:, :-1]) ** 2).sum(-1)).sum(-1)


def pg_loss(model, coords, actions, advantage):
    return -(advantage * route_logp(model, coords, actions)).mean()


def make_optimizer(peak, warm, total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)], [warm]
    )
    return optim.Adam(learning_rate=sched)


def held_out_km(model, coords):
    return route_km(coords, decode(model, coords, greedy=True)).mean().item()


def run_stage(name, model, opt, rng, spread, steps, batch, valid, refs, report_every=40):
    loss_and_grad = nn.value_and_grad(model, pg_loss)
    for step in range(1, steps + 1):
        coords = mx.array(make_courses(rng, batch, spread))
        sampled = decode(model, coords, greedy=False)
        greedy = decode(model, coords, greedy=True)
        km_s = route_km(coords, sampled)
        km_g = route_km(coords, greedy)
        advantage = mx.stop_gradient(km_g - km_s)
        lr_now = opt.learning_rate.item()
        loss, grads = loss_and_grad(model, coords, sampled, advantage)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, km_s)
        if step == 1 or step % report_every == 0:
            vk = held_out_km(model, valid)
            print(
                f"stage={name} step={step} lr={lr_now:.2e} reward={-km_s.mean().item():.3f} "
                f"pg_loss={loss.item():+.4f} valid_km={vk:.3f} nn_km={refs['nn']:.3f} "
                f"random_km={refs['random']:.3f} optimal_km={refs['opt']:.3f} "
                f"gap_pct={100 * (vk / refs['opt'] - 1):.1f}"
            )


def refs_for(valid_np, rng):
    rand_order = np.stack([rng.permutation(np.arange(1, N_CTRL)) for _ in range(valid_np.shape[0])])
    return {
        "nn": float(nearest_neighbour_km(valid_np).mean()),
        "random": float(route_km_np(valid_np, rand_order).mean()),
        "opt": float(optimal_km(valid_np).mean()),
    }


def main():
    mx.random.seed(11)
    rng = np.random.RandomState(11)
    club_valid_np = make_courses(rng, 256, 1.0)
    regional_valid_np = make_courses(rng, 256, 1.8)
    club_refs = refs_for(club_valid_np, rng)
    regional_refs = refs_for(regional_valid_np, rng)
    club_valid = mx.array(club_valid_np)
    regional_valid = mx.array(regional_valid_np)

    model = CourseSetter()
    mx.eval(model.parameters())
    club_steps, regional_steps = 320, 200
    opt = make_optimizer(3e-3, 30, club_steps)
    print(f"stage=club courses=random spread_km=1.0 batch=128 steps={club_steps} untrained_valid_km={held_out_km(model, club_valid):.3f}")
    run_stage("club", model, opt, rng, 1.0, club_steps, 128, club_valid, club_refs)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "setter.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    before = held_out_km(model, club_valid)
    with open(os.path.join(ckpt, "meta.json"), "w") as f:
        json.dump({"stage": "club", "steps": club_steps, "valid_km": before}, f)
    del model, opt

    model = CourseSetter()
    model.load_weights(os.path.join(ckpt, "setter.safetensors"))
    mx.eval(model.parameters())
    restored_opt = make_optimizer(3e-3, 30, club_steps)
    restored_opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    after = held_out_km(model, club_valid)
    meta = json.load(open(os.path.join(ckpt, "meta.json")))
    print(f"checkpoint=resumed dir={os.path.basename(ckpt)} saved_valid_km={meta['valid_km']:.3f} reloaded_valid_km={after:.3f} opt_step={restored_opt.state['step'].item()}")

    opt = make_optimizer(1.5e-3, 20, regional_steps)
    print(f"stage=regional courses=open_terrain spread_km=1.8 batch=128 steps={regional_steps} start_valid_km={held_out_km(model, regional_valid):.3f}")
    run_stage("regional", model, opt, rng, 1.8, regional_steps, 128, regional_valid, regional_refs)
    fin = held_out_km(model, regional_valid)
    print(f"done regional_valid_km={fin:.3f} nn_km={regional_refs['nn']:.3f} optimal_km={regional_refs['opt']:.3f} gap_pct={100 * (fin / regional_refs['opt'] - 1):.1f}")


if __name__ == "__main__":
    main()
