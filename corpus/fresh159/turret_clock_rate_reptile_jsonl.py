"""Turret (church tower) clock regulation: daily rate error vs temperature.

Every clock has its own pendulum rod, so its rate curve (s/day against deg C)
differs.  Reptile meta-learns an initialisation that fits a new clock from
8 readings in a few SGD steps.  One JSON object per report line.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(1590)


def new_clock():
    alpha = rng.uniform(-1.2, 1.2)      # rod expansion coefficient (scaled)
    t0 = rng.uniform(-0.6, 0.6)         # temperature the clock was regulated at
    curv = rng.uniform(0.0, 0.8)        # suspension spring stiffening
    bias = rng.normal(0, 0.4)           # regulation offset

    def rate(tc):                       # tc = (deg C - 10) / 15
        return alpha * (tc - t0) + curv * (tc - t0) ** 2 + bias + 0.3 * np.sin(3 * tc)

    return rate


def readings(rate, n, noise=0.05):
    tc = rng.uniform(-1.5, 1.5, (n, 1)).astype(np.float32)
    y = rate(tc[:, 0]) + rng.normal(0, noise, n)
    return mx.array(tc), mx.array(y.astype(np.float32))


class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(1, 40)
        self.b = nn.Linear(40, 40)
        self.c = nn.Linear(40, 1)

    def __call__(self, x):
        return self.c(nn.tanh(self.b(nn.tanh(self.a(x))))).squeeze(-1)


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


mx.random.seed(1590)
meta = RateNet()
scratch = RateNet()                      # untouched random init, the reference
mx.eval(meta.parameters(), scratch.parameters())

INNER_STEPS, INNER_LR, SHOTS = 6, 0.02, 8
META_ITERS, WARM = 1500, 150
SEC_PER_DAY_SCALE = 4.0                  # rate target is in units of 4 s/day


learner_net, probe_net = RateNet(), RateNet()   # built once, weights copied in per task
mx.eval(learner_net.parameters(), probe_net.parameters())


def adapt(init_params, x, y, steps=INNER_STEPS):
    learner = learner_net
    learner.update(tree_map(lambda p: mx.array(p), init_params))
    sgd = optim.SGD(learning_rate=INNER_LR)
    vg = nn.value_and_grad(learner, mse)
    for _ in range(steps):
        _, g = vg(learner, x, y)
        sgd.update(learner, g)
        mx.eval(learner.parameters(), sgd.state)
    return learner


def outer_eps(it):
    if it < WARM:
        return 1.0 * it / WARM          # exactly 0 at it = 0
    prog = (it - WARM) / (META_ITERS - WARM)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog))


heldout = []
for _ in range(24):
    r = new_clock()
    heldout.append((readings(r, SHOTS), readings(r, 60, noise=0.0)))


def heldout_rmse(params):
    pre, post = [], []
    for (sx, sy), (qx, qy) in heldout:
        m0 = probe_net; m0.update(params)
        pre.append(mse(m0, qx, qy).item())
        m = adapt(params, sx, sy, steps=12)
        post.append(mse(m, qx, qy).item())
    f = lambda v: round(SEC_PER_DAY_SCALE * math.sqrt(float(np.mean(v))), 3)
    return f(pre), f(post)


for it in range(META_ITERS + 1):
    eps = outer_eps(it)
    rate = new_clock()
    sx, sy = readings(rate, SHOTS * 3)
    learner = adapt(meta.parameters(), sx, sy)
    new = tree_map(lambda p, q: p + eps * (q - p), meta.parameters(), learner.parameters())
    meta.update(new)
    mx.eval(meta.parameters())
    if it % 150 == 0:
        pre, post = heldout_rmse(meta.parameters())
        rec = {"meta_it": it, "eps": round(eps, 4), "clocks_seen": it + 1,
               "rmse_s_per_day": {"zero_shot": pre, "after_12_steps": post}}
        if it == 0:
            _, ref = heldout_rmse(scratch.parameters())
            rec["scratch_after_12_steps"] = ref
        print(json.dumps(rec))

# adaptation curve for one brand-new clock: step counter starts again at 0
rate = new_clock()
sx, sy = readings(rate, SHOTS)
qx, qy = readings(rate, 60, noise=0.0)
for name, init in (("meta", meta.parameters()), ("scratch", scratch.parameters())):
    curve = []
    for k in range(0, 13, 3):
        m = adapt(init, sx, sy, steps=k)
        curve.append(round(SEC_PER_DAY_SCALE * math.sqrt(mse(m, qx, qy).item()), 3))
    print(json.dumps({"new_clock": name, "steps": list(range(0, 13, 3)), "rmse_s_per_day": curve}))
