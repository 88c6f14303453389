"""Escape-room game master: learn WHEN to push a hint to a team.

Actions: 0 = no hint, 1..4 = hint at minute 15 / 25 / 35 / 45.
Reward = 1 if the team gets out inside 60 minutes, minus a hint penalty
(early hints spoil the fun more).  REINFORCE with a learned baseline,
entropy bonus annealed, compiled update step.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

sim = np.random.default_rng(7)
HINT_MIN = np.array([1e6, 15.0, 25.0, 35.0, 45.0])
HINT_COST = np.array([0.0, 0.30, 0.18, 0.10, 0.05])


def teams(n):
    size = sim.integers(2, 7, n).astype(np.float64)
    exp_ = sim.uniform(0, 1, n)
    affinity = sim.uniform(0, 1, n)
    difficulty = sim.integers(1, 4, n).astype(np.float64)
    return np.stack([size, exp_, affinity, difficulty], 1)


def escape_times(f, k=None):
    size, exp_, aff, diff = f.T
    base = 45 + 10 * diff - 10 * exp_ - 8 * aff - 1.5 * np.abs(size - 4)
    return base + sim.normal(0, 8, size.shape[0] if k is None else (k, size.shape[0]))


def rewards(f, actions, t=None):
    t = escape_times(f) if t is None else t
    h = HINT_MIN[actions]
    t = np.where(h < t, h + 0.6 * (t - h), t)     # hint cuts the remaining time
    return (t <= 60.0).astype(np.float64) - HINT_COST[actions]


def feats(f):
    return mx.array(((f - np.array([4.0, 0.5, 0.5, 2.0])) / np.array([1.4, 0.29, 0.29, 0.8])).astype(np.float32))


class GameMaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(4, 32)
        self.trunk2 = nn.Linear(32, 32)
        self.pi = nn.Linear(32, 5)
        self.v = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.tanh(self.trunk2(nn.tanh(self.trunk(x))))
        return self.pi(h), self.v(h).squeeze(-1)


def pg_loss(model, x, a, r, beta):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
    loss = -(logp_a * adv).mean() + 0.5 * mx.square(v - r).mean() - beta * ent
    return loss, ent


mx.random.seed(3)
model = GameMaster()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1e-3)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def update(x, a, r, beta):
    (loss, ent), grads = nn.value_and_grad(model, pg_loss)(model, x, a, r, beta)
    opt.update(model, grads)
    return loss, ent


# evaluation teams with Monte-Carlo expected reward per action (oracle table)
ev = teams(600)
t_mc = escape_times(ev, k=300)
table = np.stack([rewards(ev, np.full(600, a), t_mc).mean(0) for a in range(5)], 1)
oracle = table.max(1).mean()
uniform = table.mean()
best_single = table.mean(0).max()
x_ev = feats(ev)

ITERS, BATCH = 1500, 512
t0 = time.time()
for it in range(1, ITERS + 1):
    f = teams(BATCH)
    x = feats(f)
    logits, _ = model(x)
    a = mx.random.categorical(logits)
    a_np = np.array(a)
    r = rewards(f, a_np)
    beta = 0.08 * (1 - it / ITERS) + 0.005
    loss, ent = update(x, a, mx.array(r.astype(np.float32)), mx.array(beta, dtype=mx.float32))
    mx.eval(model.state, opt.state, loss, ent)
    if it == 1 or it % 150 == 0:
        el = time.time() - t0
        g_act = np.array(mx.argmax(model(x_ev)[0], axis=-1))
        greedy = table[np.arange(600), g_act].mean()
        done = int(30 * it / ITERS)
        print(f"train: {100 * it // ITERS:3d}%|{'#' * done}{' ' * (30 - done)}| {it}/{ITERS} "
              f"[{el:05.1f}s, {it / el:5.1f}it/s, R={r.mean():.3f}, greedyR={greedy:.3f}, "
              f"ent={ent.item():.2f}, oracle={oracle:.3f}, uniform={uniform:.3f}]", flush=True)

g_act = np.array(mx.argmax(model(x_ev)[0], axis=-1))
greedy = table[np.arange(600), g_act].mean()
share = np.bincount(g_act, minlength=5) / 600
print(f"done in {time.time() - t0:.1f}s | greedy expected reward {greedy:.3f} "
      f"(oracle {oracle:.3f}, best single action {best_single:.3f}, uniform {uniform:.3f}) | "
      f"action mix none/15/25/35/45 = {' '.join(f'{s:.2f}' for s in share)}")
