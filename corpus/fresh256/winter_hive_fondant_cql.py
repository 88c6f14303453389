"""Offline conservative Q-learning for winter feeding of a bee colony.

A beekeeper logged 12-week winters: honey stores (0..7 units), the week, and
the feed given (none / fondant / syrup).  Syrup is cheaper but chills the
cluster in the cold mid-winter weeks.  A colony whose stores run out is lost.
From the log alone we fit a Q network with a conservative penalty
(logsumexp over actions minus the logged action), save a checkpoint half way,
restore it into fresh objects and finish with a warm-restarted schedule.
The greedy policy is then checked in the simulator against the logging
policy, simple rules and the exact dynamic-programming optimum.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

S_MAX, WEEKS = 7, 12
COLD = np.array([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])   # weeks 2..7 are cold
ADD = np.array([0, 2, 3])
COST = np.array([0.0, 0.4, 0.25])
CHILL = 0.9            # extra cost of syrup in a cold week
LOSS, SPRING = -10.0, 5.0
GAMMA = 0.97
ALPHA = 0.5
BATCH = 256
STAGE_STEPS = 700
TAU = 0.02

rng = np.random.default_rng(11)
mx.random.seed(11)


def sim_step(s, w, a, rng):
    use = 1 + (rng.random(s.shape) < 0.35 + 0.4 * COLD[w])
    s_next = np.minimum(S_MAX, s + ADD[a]) - use
    r = -COST[a] - CHILL * ((a == 2) & (COLD[w] == 1))
    dead = s_next < 0
    r = np.where(dead, r + LOSS, r)
    last = (w == WEEKS - 1) & ~dead
    r = np.where(last, r + SPRING + 0.1 * np.maximum(s_next, 0), r)
    done = dead | (w == WEEKS - 1)
    return np.maximum(s_next, 0), w + 1, r.astype(np.float32), done, dead


def keeper_policy(s, w, rng):
    a = np.where(s <= 2, np.where(COLD[w] == 1, 1, 2), 0)
    noisy = rng.random(s.shape) < 0.35
    return np.where(noisy, rng.integers(0, 3, s.shape), a)


def collect(n_winters, rng):
    rows = []
    s = rng.integers(3, S_MAX + 1, n_winters)
    w = np.zeros(n_winters, dtype=np.int64)
    alive = np.ones(n_winters, dtype=bool)
    for _ in range(WEEKS):
        a = keeper_policy(s, w, rng)
        s2, w2, r, d, _ = sim_step(s, w, a, rng)
        rows.append(np.stack([s, w, a, r, s2, np.minimum(w2, WEEKS - 1), d], 1)[alive])
        alive = alive & ~d
        s, w = s2, w2
    data = np.concatenate(rows, 0)
    return {k: data[:, i] for i, k in enumerate(["s", "w", "a", "r", "s2", "w2", "d"])}


def feats(s, w):
    s = np.asarray(s, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    x = np.zeros((len(s), S_MAX + 1 + 3), dtype=np.float32)
    x[np.arange(len(s)), s] = 1.0
    x[:, S_MAX + 1] = w / (WEEKS - 1)
    x[:, S_MAX + 2] = COLD[w]
    x[:, S_MAX + 3] = (WEEKS - w) / WEEKS
    return mx.array(x)


class QNet(nn.Module):
    def __init__(self, n_in, n_act=3, hidden=64):
        super().__init__()
        self.layers = [nn.Linear(n_in, hidden), nn.Linear(hidden, hidden)]
        self.head = nn.Linear(hidden, n_act)

    def __call__(self, x):
        for l in self.layers:
            x = nn.silu(l(x))
        return self.head(x)


def loss_fn(model, x, a, y):
    q = model(x)
    q_a = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    td = nn.losses.huber_loss(q_a, y, reduction="mean")
    gap = (mx.logsumexp(q, axis=1) - q_a).mean()
    return td + ALPHA * gap, (td, gap)


def exact_dp():
    V = np.zeros((WEEKS + 1, S_MAX + 1))
    Q = np.zeros((WEEKS, S_MAX + 1, 3))
    for w in reversed(range(WEEKS)):
        p2 = 0.35 + 0.4 * COLD[w]
        for s in range(S_MAX + 1):
            for a in range(3):
                tot = 0.0
                for use, p in ((1, 1 - p2), (2, p2)):
                    s2 = min(S_MAX, s + ADD[a]) - use
                    r = -COST[a] - CHILL * (a == 2 and COLD[w] == 1)
                    if s2 < 0:
                        tot += p * (r + LOSS)
                    elif w == WEEKS - 1:
                        tot += p * (r + SPRING + 0.1 * s2)
                    else:
                        tot += p * (r + GAMMA * V[w + 1, s2])
                Q[w, s, a] = tot
        V[w] = Q[w].max(axis=1)
    return V, Q.argmax(axis=2)


def evaluate(policy, n=4000, seed=5):
    r_ = np.random.default_rng(seed)
    s = r_.integers(3, S_MAX + 1, n)
    w = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    lost = np.zeros(n, dtype=bool)
    ret = np.zeros(n)
    disc = np.ones(n)
    for _ in range(WEEKS):
        a = policy(s, w, r_)
        s2, w2, r, d, dead = sim_step(s, w, a, r_)
        ret += np.where(alive, disc * r, 0.0)
        lost |= alive & dead
        disc *= GAMMA
        alive = alive & ~d
        s, w = s2, np.minimum(w2, WEEKS - 1)
    return ret.mean(), 1.0 - lost.mean()


def make_objects(lr_schedule):
    m = QNet(S_MAX + 4)
    t = QNet(S_MAX + 4)
    t.update(tree_map(lambda p: p, m.parameters()))
    o = optim.AdamW(learning_rate=lr_schedule, weight_decay=1e-4)
    mx.eval(m.parameters(), t.parameters())
    return m, t, o


def train_stage(name, model, target, opt, data, steps, log_every, start_step):
    lg = nn.value_and_grad(model, loss_fn)
    n = len(data["s"])
    x_all = feats(data["s"], data["w"])
    x2_all = feats(data["s2"], data["w2"])
    a_all = mx.array(data["a"].astype(np.int32))
    r_all = mx.array(data["r"].astype(np.float32))
    nd_all = mx.array(1.0 - data["d"].astype(np.float32))
    acc = []
    for i in range(steps):
        j = mx.array(rng.integers(0, n, BATCH))
        x, x2, a = x_all[j], x2_all[j], a_all[j]
        y = r_all[j] + GAMMA * nd_all[j] * target(x2).max(axis=1)
        y = mx.stop_gradient(y)
        (loss, (td, gap)), grads = lg(model, x, a, y)
        opt.update(model, grads)
        target.update(tree_map(lambda tp, p: (1 - TAU) * tp + TAU * p,
                               target.parameters(), model.parameters()))
        mx.eval(model.parameters(), target.parameters(), opt.state, loss, td, gap)
        acc.append((loss.item(), td.item(), gap.item()))
        step = start_step + i + 1
        if step % log_every == 0:
            m = np.mean(acc, 0)
            print(f"[{name}] step {step:5d}  lr {opt.learning_rate.item():.2e}  "
                  f"loss {m[0]:.4f}  td {m[1]:.4f}  conservative gap {m[2]:.4f}")
            acc = []
    return start_step + steps


data = collect(3000, rng)
print(f"logged transitions: {len(data['s'])}  action mix "
      f"{np.bincount(data['a'].astype(int), minlength=3) / len(data['a'])}  "
      f"mean logged reward {data['r'].mean():+.3f}")

V_star, pi_star = exact_dp()
print(f"DP optimum: V*(week 0, stores 5) = {V_star[0, 5]:+.3f}")

t0 = time.time()
sched_a = optim.cosine_decay(3e-3, STAGE_STEPS, 3e-4)
model, target, opt = make_objects(sched_a)
step = train_stage("stage A", model, target, opt, data, STAGE_STEPS, 100, 0)

ckpt_dir = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckpt_dir, "online.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt_dir, "target.safetensors"), dict(tree_flatten(target.parameters())))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
    json.dump({"step": step}, f)
probe = feats(np.arange(S_MAX + 1), np.full(S_MAX + 1, 4))
q_before = np.array(model(probe))
print(f"checkpoint written to {ckpt_dir} at step {step}")
del model, target, opt

# resume in fresh objects with a warm restart of the cosine schedule
sched_b = optim.cosine_decay(3e-3, STAGE_STEPS, 1e-4)
model, target, opt = make_objects(sched_b)
model.load_weights(os.path.join(ckpt_dir, "online.safetensors"))
target.load_weights(os.path.join(ckpt_dir, "target.safetensors"))
opt.init(model.trainable_parameters())
saved_state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
saved_state["step"] = mx.array(0, dtype=mx.uint64)      # the schedule restarts, moments are kept
saved_state["learning_rate"] = sched_b(0)
opt.state = saved_state
with open(os.path.join(ckpt_dir, "meta.json")) as f:
    step = json.load(f)["step"]
q_after = np.array(model(probe))
print(f"resumed at step {step}; max |Q diff| on probe after reload = {np.abs(q_after - q_before).max():.2e}")
step = train_stage("stage B", model, target, opt, data, STAGE_STEPS, 175, step)
print(f"training took {time.time() - t0:.1f}s")

grid_w = np.repeat(np.arange(WEEKS), S_MAX + 1)
grid_s = np.tile(np.arange(S_MAX + 1), WEEKS)
q_grid = np.array(model(feats(grid_s, grid_w)))
pi_learned = q_grid.argmax(1).reshape(WEEKS, S_MAX + 1)
v_learned = q_grid.max(1).reshape(WEEKS, S_MAX + 1)
low = np.arange(S_MAX + 1) <= 3
print(f"learned V vs DP V* (weeks 0-11, stores 0-3): mean abs diff "
      f"{np.abs(v_learned[:, low] - V_star[:WEEKS, low]).mean():.3f}")
print(f"greedy action = DP action in {(pi_learned[:, low] == pi_star[:, low]).mean() * 100:.0f}% of low-stores states")

policies = {
    "logging keeper": keeper_policy,
    "never feed": lambda s, w, r: np.zeros_like(s),
    "always fondant": lambda s, w, r: np.ones_like(s),
    "DP optimum": lambda s, w, r: pi_star[w, s],
    "offline CQL": lambda s, w, r: pi_learned[w, s],
}
for name, pol in policies.items():
    ret, surv = evaluate(pol)
    print(f"{name:15s} mean discounted return {ret:+.3f}  colonies alive in spring {surv * 100:5.1f}%")
