"""Flue-pipe voicing: predict how many cents a freshly voiced organ pipe speaks
off its nominal pitch from seven bench measurements.

All model weights live in bfloat16. Updates are applied with a compensated
(Kahan) sum so that increments smaller than half a bf16 ulp are carried over to
later steps instead of being rounded away. Gradients from four micro-batches are
summed in float32 before each optimizer step.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

SEED = 11
N_TRAIN, N_VALID = 12000, 2000
MICRO, ACCUM = 64, 4
OPT_STEPS = 640
WARMUP = 60
PEAK_LR, FLOOR_LR = 0.05, 0.0025
MOMENTUM = 0.9
NOISE_CENTS = 1.5

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_pipes(n):
    cutup = rng.uniform(0.20, 0.35, n)          # mouth cut-up / mouth width
    languid = rng.normal(0.0, 1.0, n)           # languid height offset (mm)
    foot = rng.uniform(4.0, 12.0, n)            # foot-hole diameter (mm)
    wind = rng.uniform(60.0, 110.0, n)          # wind pressure (mm water column)
    scale = rng.integers(-4, 5, n).astype(np.float64)  # halftones off normal scale
    temp = rng.uniform(8.0, 26.0, n)            # church temperature (C)
    toe = rng.uniform(0.5, 1.0, n)              # toe opening fraction
    cents = (-180.0 * (cutup - 0.27) + 0.35 * (wind - 85.0)
             + 3.0 * languid * toe + 12.0 * np.log(foot / 8.0)
             - 1.4 * scale + 3.0 * (temp - 17.0)
             + 5.0 * np.sin(2.0 * languid))
    cents = cents + rng.normal(0.0, NOISE_CENTS, n)
    X = np.stack([cutup, languid, foot, wind, scale, temp, toe], axis=1)
    return X.astype(np.float32), cents.astype(np.float32)


Xtr, ytr = make_pipes(N_TRAIN)
Xva, yva = make_pipes(N_VALID)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
ztr = (ytr - ymu) / ysd

Xtr_m = mx.array(Xtr).astype(mx.bfloat16)
ztr_m = mx.array(ztr)
Xva_m = mx.array(Xva).astype(mx.bfloat16)
yva_np = yva


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = VoicingNet()
model.set_dtype(mx.bfloat16)
mx.eval(model.parameters())


def loss_fn(m, x, z):
    pred = m(x).astype(mx.float32)
    return mx.mean(mx.square(pred - z))


loss_and_grad = nn.value_and_grad(model, loss_fn)


class CompensatedMomentum:
    """Heavy-ball SGD whose bf16 weight writes carry their rounding error forward."""

    def __init__(self, params):
        self.vel = tree_map(lambda p: mx.zeros(p.shape, dtype=mx.float32), params)
        self.comp = tree_map(lambda p: mx.zeros(p.shape, dtype=mx.float32), params)

    def step(self, params, grads, lr):
        def one(p, g, v, c):
            v = MOMENTUM * v + g
            y = -lr * v - c
            p32 = p.astype(mx.float32)
            t = (p32 + y).astype(p.dtype)
            c = (t.astype(mx.float32) - p32) - y
            return t, v, c

        new_p = tree_map(lambda p, g, v, c: one(p, g, v, c), params, grads, self.vel, self.comp)
        params_out = tree_map(lambda t: t[0], new_p, is_leaf=lambda t: isinstance(t, tuple))
        self.vel = tree_map(lambda t: t[1], new_p, is_leaf=lambda t: isinstance(t, tuple))
        self.comp = tree_map(lambda t: t[2], new_p, is_leaf=lambda t: isinstance(t, tuple))
        return params_out


def lr_at(step):
    # step counts optimizer steps from 1; warm-up starts at exactly 0
    if step <= WARMUP:
        return PEAK_LR * (step - 1) / WARMUP
    frac = (step - WARMUP) / (OPT_STEPS - WARMUP)
    return FLOOR_LR + 0.5 * (PEAK_LR - FLOOR_LR) * (1.0 + math.cos(math.pi * frac))


def valid_rmse_cents():
    pred = model(Xva_m).astype(mx.float32)
    pred = np.array(pred) * ysd + ymu
    return float(np.sqrt(np.mean((pred - yva_np) ** 2)))


opt = CompensatedMomentum(model.trainable_parameters())
n_leaves = len(tree_flatten(model.trainable_parameters()))
n_weights = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
base_rmse = float(np.sqrt(np.mean((yva_np - ymu) ** 2)))

print(f"# flue-pipe voicing: {N_TRAIN} train / {N_VALID} valid pipes, target sd {ysd:.1f} cents")
print(f"# weights dtype {model.l1.weight.dtype}, {n_weights} weights in {n_leaves} leaves")
print(f"# baseline (predict mean) valid rmse {base_rmse:.2f} cents; bench noise {NOISE_CENTS:.1f} cents")
print(f"# untrained valid rmse {valid_rmse_cents():.2f} cents")
print("step\tlr\ttrain_mse_z\tvalid_rmse_c\tmoved_pct\tsecs")

perm = rng.permutation(N_TRAIN)
cursor = 0
recent = []
t0 = time.time()
for step in range(1, OPT_STEPS + 1):
    acc = None
    loss_sum = 0.0
    for _ in range(ACCUM):
        if cursor + MICRO > N_TRAIN:
            perm = rng.permutation(N_TRAIN)
            cursor = 0
        idx = mx.array(perm[cursor:cursor + MICRO])
        cursor += MICRO
        loss, g = loss_and_grad(model, Xtr_m[idx], ztr_m[idx])
        g = tree_map(lambda a: a.astype(mx.float32), g)
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        loss_sum = loss_sum + loss
    grads = tree_map(lambda a: a / ACCUM, acc)
    if step == 1:
        flat_g = tree_flatten(grads)
        zero = [k for k, v in flat_g if float(mx.abs(v).max()) == 0.0]
        print(f"# step-1 gradients: {len(flat_g)} leaves, dtype {flat_g[0][1].dtype}, zero leaves {zero}")
    lr = lr_at(step)
    before = model.trainable_parameters()
    after = opt.step(before, grads, lr)
    model.update(after)
    mx.eval(model.parameters(), opt.vel, opt.comp, loss_sum)
    recent.append(float(loss_sum) / ACCUM)
    if step == 1 or step % 40 == 0:
        changed = sum(int(mx.sum(a != b)) for (_, a), (_, b) in
                      zip(tree_flatten(after), tree_flatten(before)))
        moved = 100.0 * changed / n_weights
        print(f"{step}\t{lr:.4f}\t{np.mean(recent):.4f}\t{valid_rmse_cents():.2f}\t"
              f"{moved:.1f}\t{time.time() - t0:.1f}")
        recent = []

cmax = max(float(mx.abs(v).max()) for _, v in tree_flatten(opt.comp))
print(f"# done: weights still {model.l1.weight.dtype}; largest carried remainder {cmax:.2e}")
print(f"# final valid rmse {valid_rmse_cents():.2f} cents vs baseline {base_rmse:.2f}")
