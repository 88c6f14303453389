"""Few-shot vineyard microclimate curves with Reptile.

Every vineyard block has its own daily temperature curve (amplitude, warmest hour,
base temperature, a morning fog dip of its own depth).  We meta-learn an
initialisation from which 10 logger readings and a handful of plain SGD steps are
enough to recover a new block's whole curve.

Reptile: for each sampled block, copy the meta weights into a learner, run k SGD
steps on its readings, then move the meta weights a fraction eps of the way towards
the adapted weights.  eps is annealed linearly from 1.0 to 0.0 over the run, so the
last meta-steps barely move anything (by design).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

SEED = 7
META_ITERS = 2400
INNER_STEPS = 8
INNER_LR = 0.02
SHOTS = 10
EVAL_TASKS = 80
EVAL_QUERY = 48
REPORT_EVERY = 400
T_SCALE = 6.0   # degC per standardised unit
T_MID = 17.0

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


class Block:
    """One vineyard block: a made-up daily temperature law."""

    def __init__(self, r):
        self.amp = r.uniform(3.0, 10.0)
        self.peak = r.uniform(12.5, 16.5)          # hour of the daily maximum
        self.base = r.uniform(11.0, 23.0)
        self.fog = r.uniform(0.0, 4.0)             # depth of the dawn fog dip
        self.fog_hour = r.uniform(5.0, 8.0)

    def temperature(self, hour):
        t = self.base + self.amp * np.cos(2 * np.pi * (hour - self.peak) / 24.0)
        t -= self.fog * np.exp(-0.5 * ((hour - self.fog_hour) / 1.2) ** 2)
        return t

    def sample(self, r, n, noise=0.3):
        hour = r.uniform(0.0, 24.0, size=n)
        temp = self.temperature(hour) + noise * r.standard_normal(n)
        x = (hour / 12.0 - 1.0).astype(np.float32)[:, None]
        y = ((temp - T_MID) / T_SCALE).astype(np.float32)[:, None]
        return mx.array(x), mx.array(y)


class CurveNet(nn.Module):
    def __init__(self, hidden=40):
        super().__init__()
        self.l1 = nn.Linear(1, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.out(h)


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


meta = CurveNet()
learner = CurveNet()
mx.eval(meta.parameters(), learner.parameters())
learner_grad = nn.value_and_grad(learner, mse)


def adapt(start_params, x, y, steps, lr=INNER_LR, audit=False):
    """Plain SGD from start_params on (x, y); returns the adapted parameter tree."""
    learner.update(tree_map(lambda a: a, start_params))
    for s in range(steps):
        loss, grads = learner_grad(learner, x, y)
        if audit and s == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"gradient audit (first inner step): {len(flat)} leaves, "
                  f"zero leaves: {zero if zero else 'none'}")
            if zero:
                raise SystemExit("a parameter leaf got no gradient")
        learner.update(tree_map(lambda p, g: p - lr * g, learner.parameters(), grads))
        mx.eval(learner.parameters(), loss)
    return learner.parameters()


# fixed held-out blocks for evaluation (support readings + query readings)
eval_rng = np.random.default_rng(SEED + 1000)
eval_blocks = []
for _ in range(EVAL_TASKS):
    b = Block(eval_rng)
    sx, sy = b.sample(eval_rng, SHOTS)
    qx, qy = b.sample(eval_rng, EVAL_QUERY, noise=0.0)
    eval_blocks.append((sx, sy, qx, qy))


def rmse_c(params, qx, qy):
    learner.update(params)
    err = mx.mean(mx.square(learner(qx) - qy))
    return math.sqrt(err.item()) * T_SCALE


def evaluate(params, steps_list=(0, 8, 32)):
    out = {s: [] for s in steps_list}
    for sx, sy, qx, qy in eval_blocks:
        done = 0
        cur = params
        for s in steps_list:
            if s > done:
                cur = adapt(cur, sx, sy, s - done)
                done = s
            out[s].append(rmse_c(cur, qx, qy))
    return {s: float(np.mean(v)) for s, v in out.items()}


print(f"Reptile on vineyard blocks: {META_ITERS} meta-iterations, "
      f"{INNER_STEPS} inner SGD steps (lr {INNER_LR}) on {SHOTS} readings each")
print(f"evaluation: {EVAL_TASKS} unseen blocks, {SHOTS} support readings, "
      f"query RMSE in degC on {EVAL_QUERY} noiseless hours")

t0 = time.time()
scratch = evaluate(CurveNet().parameters())
print(f"random-init baseline   rmse@0 {scratch[0]:5.2f}  rmse@8 {scratch[8]:5.2f}  "
      f"rmse@32 {scratch[32]:5.2f} degC   ({time.time() - t0:.1f}s)")
print()
print("meta-iter    eps   inner-loss   rmse@0   rmse@8  rmse@32   secs")

task_rng = np.random.default_rng(SEED + 1)
window = []
t0 = time.time()
for it in range(1, META_ITERS + 1):
    eps = 1.0 - (it - 1) / META_ITERS          # 1.0 -> 1/META_ITERS
    block = Block(task_rng)
    x, y = block.sample(task_rng, SHOTS)
    start = meta.parameters()
    adapted = adapt(start, x, y, INNER_STEPS, audit=(it == 1))
    window.append(mse(learner, x, y).item())
    new_meta = tree_map(lambda m, p: m + eps * (p - m), start, adapted)
    meta.update(new_meta)
    mx.eval(meta.parameters())

    if it % REPORT_EVERY == 0:
        res = evaluate(meta.parameters())
        print(f"{it:9d}  {eps:5.3f}   {np.mean(window) * T_SCALE ** 2:9.3f}   "
              f"{res[0]:6.2f}   {res[8]:6.2f}   {res[32]:6.2f}   {time.time() - t0:5.1f}")
        window = []

print()
print("inner-loss = mean squared error (degC^2) on the block's own readings after the inner steps;")
print("rmse@k = query RMSE (degC) on unseen blocks after k SGD steps from the meta init.")
