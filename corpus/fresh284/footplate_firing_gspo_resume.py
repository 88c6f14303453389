"""Heritage steam railway: learning a fireman's firing plan with GSPO.

For a 6-section run the policy decides how many shovels of coal (0..4) to fire
before each section, seeing the section's gradient, the next one, the train
load and the current boiler pressure.  Reward per run is a cost, so it is
always negative: coal used, pressure sagging below working level (lost time),
and the safety valve lifting (wasted steam).

Training is GSPO: 8 runs per route profile, group-normalised advantages, and a
SEQUENCE-level importance ratio (geometric mean of token ratios) clipped to a
narrow band, 4 epochs per batch.  The run is split in two sessions: after 40
iterations the policy and Adam state are saved, everything is rebuilt from the
checkpoint and training resumes for 40 more.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SECTIONS = 6
SHOVELS = 5
GROUP = 8
PROFILES = 24
EPS_LOW, EPS_HIGH = 0.03, 0.04
OBS = 4 + 4 + 1 + SECTIONS + 1

rng = np.random.default_rng(11)
mx.random.seed(11)


def obs_for(grad, load, k, p):
    n = len(load)
    o = np.zeros((n, OBS), dtype=np.float32)
    o[np.arange(n), grad[:, k] + 1] = 1.0
    nxt = grad[:, k + 1] if k + 1 < SECTIONS else np.full(n, -1)
    o[np.arange(n), 4 + nxt + 1] = 1.0
    o[:, 8] = load
    o[:, 9 + k] = 1.0
    o[:, -1] = p - 1.0
    return o


def step_boiler(p, shovels, g, load):
    demand = 0.14 * (g + 1) * (1.0 + 0.6 * load)
    p = p + 0.11 * shovels - demand
    valve = p > 1.25
    p = np.minimum(p, 1.25)
    cost = 0.05 * shovels + 2.0 * np.maximum(0.0, 0.6 - p) + 0.3 * valve
    return p, cost


class Fireman(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(OBS, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, SHOVELS)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def rollout(model, grad, load, greedy=False, policy=None):
    n = len(load)
    p = np.ones(n)
    cost = np.zeros(n)
    obs = np.zeros((n, SECTIONS, OBS), dtype=np.float32)
    acts = np.zeros((n, SECTIONS), dtype=np.int64)
    for k in range(SECTIONS):
        o = obs_for(grad, load, k, p)
        obs[:, k] = o
        if policy is not None:
            a = policy(grad[:, k], load)
        else:
            logits = model(mx.array(o))
            a = np.array(mx.argmax(logits, -1) if greedy else mx.random.categorical(logits))
        acts[:, k] = a
        p, c = step_boiler(p, a, grad[:, k], load)
        cost += c
    return obs, acts, -cost


def new_profiles(n):
    grad = rng.integers(-1, 3, (n, SECTIONS))
    load = rng.integers(0, 2, n).astype(np.float32)
    return grad, load


def seq_logp(model, obs, acts):
    logits = model(obs)
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, acts[..., None], axis=-1).squeeze(-1)


def loss_fn(model, obs, acts, adv, old_lp):
    lp = seq_logp(model, obs, acts)
    log_ratio = (lp - old_lp).mean(axis=-1)      # length-normalised
    s = mx.exp(log_ratio)
    surr = mx.minimum(s * adv, mx.clip(s, 1 - EPS_LOW, 1 + EPS_HIGH) * adv)
    clipped = ((s < 1 - EPS_LOW) | (s > 1 + EPS_HIGH)).astype(mx.float32).mean()
    return -surr.mean(), clipped


EVAL_GRAD, EVAL_LOAD = new_profiles(128)


def evaluate(model):
    _, _, r = rollout(model, EVAL_GRAD, EVAL_LOAD, greedy=True)
    return float(r.mean())


def baselines():
    rand = lambda g, l: rng.integers(0, SHOVELS, len(l))
    rule = lambda g, l: np.clip(g + 1 + l.astype(np.int64), 0, SHOVELS - 1)
    _, _, r_rand = rollout(None, EVAL_GRAD, EVAL_LOAD, policy=rand)
    _, _, r_rule = rollout(None, EVAL_GRAD, EVAL_LOAD, policy=rule)
    return float(r_rand.mean()), float(r_rule.mean())


def train(model, opt, start, stop, base_rand, base_rule):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for it in range(start, stop):
        grad, load = new_profiles(PROFILES)
        grad_g = np.repeat(grad, GROUP, axis=0)
        load_g = np.repeat(load, GROUP)
        obs, acts, r = rollout(model, grad_g, load_g)
        rg = r.reshape(PROFILES, GROUP)
        adv = (rg - rg.mean(1, keepdims=True)) / (rg.std(1, keepdims=True) + 1e-6)
        obs, acts, adv = mx.array(obs), mx.array(acts), mx.array(adv.reshape(-1).astype(np.float32))
        old_lp = mx.stop_gradient(seq_logp(model, obs, acts))
        for _ in range(4):
            (loss, clipped), grads = grad_fn(model, obs, acts, adv, old_lp)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if it % 5 == 0:
            print(f"iter {it:3d} mean run reward {r.mean():+.3f} best-in-group {rg.max(1).mean():+.3f} "
                  f"loss {loss.item():+.4f} seq-clip {clipped.item():.2f}")
        if (it + 1) % 20 == 0:
            print(f"  eval @ {it + 1}: greedy reward {evaluate(model):+.3f}  "
                  f"(random {base_rand:+.3f}, rule of thumb {base_rule:+.3f})")


def save_checkpoint(model, opt, folder, it):
    model.save_weights(os.path.join(folder, "fireman.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(folder, "adam.safetensors"), state, {"iter": str(it)})


def load_checkpoint(folder):
    model = Fireman()
    model.load_weights(os.path.join(folder, "fireman.safetensors"))
    opt = optim.Adam(learning_rate=2e-3)
    state, meta = mx.load(os.path.join(folder, "adam.safetensors"), return_metadata=True)
    opt.state = tree_unflatten(list(state.items()))
    mx.eval(model.parameters(), opt.state)
    return model, opt, int(meta["iter"])


def main():
    t0 = time.time()
    base_rand, base_rule = baselines()
    print(f"baselines on 128 eval routes: random firing {base_rand:+.3f}, rule of thumb {base_rule:+.3f}")
    model = Fireman()
    opt = optim.Adam(learning_rate=2e-3)
    mx.eval(model.parameters())
    print(f"untrained greedy reward {evaluate(model):+.3f}")
    with tempfile.TemporaryDirectory() as folder:
        print("session 1")
        train(model, opt, 0, 40, base_rand, base_rule)
        before = evaluate(model)
        save_checkpoint(model, opt, folder, 40)
        del model, opt
        model, opt, it0 = load_checkpoint(folder)
        after = evaluate(model)
        print(f"session 2: resumed at iter {it0}, adam step {int(opt.state['step'])}, "
              f"greedy reward before save {before:+.3f} after load {after:+.3f}")
        train(model, opt, it0, 80, base_rand, base_rule)
    final = evaluate(model)
    print(f"final greedy reward {final:+.3f}  random {base_rand:+.3f}  rule of thumb {base_rule:+.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
