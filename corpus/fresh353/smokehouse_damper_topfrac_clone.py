"""Smokehouse damper: behaviour cloning from logged shifts, then %BC.

Stage "all": clone every logged slot (the log mixes the head smoker with
apprentices who guess). Stage "top": keep cloning, but only from the shifts
whose total return is in the top quarter. Training is quiet; a markdown
report is printed at the end of each stage.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SLOTS, LEVELS, ACTS = 24, 10, 3
rng = np.random.default_rng(11)
mx.random.seed(11)


def env_step(heat, act, rng):
    sun = (rng.random(heat.shape) < 0.6).astype(np.int64)
    gust = (rng.random(heat.shape) < 0.15).astype(np.int64)
    nxt = np.clip(heat + sun + gust - act, 0, LEVELS - 1)
    rew = np.where((nxt >= 4) & (nxt <= 5), 1.0, 0.0)
    rew = np.where((nxt >= 8) | (nxt <= 1), -1.0, rew)
    return nxt, rew


def keeper_action(heat):
    return np.where(heat >= 5, 2, np.where(heat >= 4, 1, 0))


def log_shifts(n, rng):
    heat = rng.integers(2, 7, size=n)
    careless = rng.random(n)
    S = np.zeros((n, SLOTS), np.int64)
    A = np.zeros((n, SLOTS), np.int64)
    R = np.zeros((n, SLOTS), np.float32)
    for t in range(SLOTS):
        S[:, t] = heat
        guess = rng.random(n) < careless
        act = np.where(guess, rng.integers(0, ACTS, size=n), keeper_action(heat))
        heat, rew = env_step(heat, act, rng)
        A[:, t], R[:, t] = act, rew
    return S, A, R


def features(heat, slot):
    onehot = np.eye(LEVELS, dtype=np.float32)[heat]
    return np.concatenate([onehot, (slot / SLOTS)[..., None].astype(np.float32)], -1)


S, A, R = log_shifts(2500, rng)
ret = R.sum(1)
slot_idx = np.broadcast_to(np.arange(SLOTS), S.shape)
X_all = features(S, slot_idx).reshape(-1, LEVELS + 1)
Y_all = A.reshape(-1)
cut = np.quantile(ret, 0.75)
keep = np.repeat(ret >= cut, SLOTS)
X_top, Y_top = X_all[keep], Y_all[keep]

policy = nn.Sequential(nn.Linear(LEVELS + 1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                       nn.Linear(32, ACTS))
mx.eval(policy.parameters())


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def greedy_return(n, rng):
    heat = rng.integers(2, 7, size=n)
    total = np.zeros(n)
    for t in range(SLOTS):
        logits = policy(mx.array(features(heat, np.full(n, t))))
        act = np.array(mx.argmax(logits, -1))
        heat, rew = env_step(heat, act, rng)
        total += rew
    return total.mean()


def ref_return(fn, n, rng):
    heat = rng.integers(2, 7, size=n)
    total = np.zeros(n)
    for _ in range(SLOTS):
        heat, rew = env_step(heat, fn(heat), rng)
        total += rew
    return total.mean()


def agreement(x, y):
    return float(mx.mean(mx.argmax(policy(mx.array(x)), -1) == mx.array(y)).item())


eval_rng = np.random.default_rng(99)
rand_ret = ref_return(lambda h: eval_rng.integers(0, ACTS, size=h.shape), 500, eval_rng)
keeper_ret = ref_return(keeper_action, 500, eval_rng)
probe_heat = np.arange(LEVELS)
probe_x = features(probe_heat, np.full(LEVELS, 12))
probe_keeper = keeper_action(probe_heat)

step_fn = nn.value_and_grad(policy, ce)
t0 = time.time()
print(f"# damper cloning  ({len(S)} logged shifts, top-quarter cut at return {cut:.0f})")
print()
print("| stage | rows | epochs | lr now | train ce | keeper agreement | greedy return | random | head smoker | logged mean |")
print("|---|---|---|---|---|---|---|---|---|---|")
for stage, (X, Y, epochs, lr0) in {"all": (X_all, Y_all, 6, 0.05), "top": (X_top, Y_top, 8, 0.02)}.items():
    opt = optim.SGD(learning_rate=optim.step_decay(lr0, 0.5, 3 * (len(X) // 256)), momentum=0.9)
    for ep in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X) - 255, 256):
            b = order[i:i + 256]
            loss, grads = step_fn(policy, mx.array(X[b]), mx.array(Y[b]))
            opt.update(policy, grads)
            mx.eval(policy.parameters(), opt.state)
    train_ce = ce(policy, mx.array(X), mx.array(Y)).item()
    agree = agreement(probe_x, probe_keeper)
    g = greedy_return(500, eval_rng)
    lr_now = float(opt.learning_rate.item())
    print(f"| {stage} | {len(X)} | {epochs} | {lr_now:.4f} | {train_ce:.4f} | {agree:.0%} | {g:+.2f} | {rand_ret:+.2f} | {keeper_ret:+.2f} | {ret.mean():+.2f} |")
print()
print(f"wall {time.time() - t0:.1f}s")
