"""Skier-triggered release probability from synthetic snow-pit observations.

Small MLP, hand-rolled Nesterov momentum, linear warm-up from lr = 0 then cosine
warm restarts (SGDR, cycle length doubles).  One JSON record per log interval.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)


def snowpits(n):
    slope = rng.uniform(20, 50, n)                  # degrees
    hn24 = rng.gamma(2.0, 12.0, n)                  # new snow, cm
    wind = rng.uniform(0, 1, n)                     # wind-loading index
    tgrad = rng.normal(10, 6, n)                    # deg C / m
    grain = rng.uniform(0.5, 4.0, n)                # weak-layer grain size, mm
    hard = rng.integers(1, 6, n).astype(float)      # hand hardness of slab, 1..5
    days = rng.exponential(4.0, n)                  # days since last storm
    aspect = rng.uniform(0, 2 * math.pi, n)
    logit = (0.16 * (slope - 35) - 0.004 * (slope - 38) ** 2
             + 0.05 * hn24 + 1.6 * wind * (np.cos(aspect) > 0)
             + 0.09 * np.maximum(tgrad - 10, 0) + 0.7 * (grain - 2.0)
             - 0.45 * (hard - 3) - 0.25 * days - 0.6)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.uniform(0, 1, n) < p).astype(np.float32)
    x = np.stack([slope, hn24, wind, tgrad, grain, hard, days,
                  np.sin(aspect), np.cos(aspect)], 1).astype(np.float32)
    return x, y


xtr, ytr = snowpits(6000)
xva, yva = snowpits(1500)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))


class PitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def bce(model, x, y):
    return mx.mean(nn.losses.binary_cross_entropy(model(x), y, with_logits=True))


def auc(scores, labels):
    s = np.asarray(scores)
    l = np.asarray(labels)
    order = s.argsort()
    ranks = np.empty_like(order, dtype=np.float64)
    ranks[order] = np.arange(1, len(s) + 1)
    npos = l.sum()
    nneg = len(l) - npos
    return float((ranks[l == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


mx.random.seed(3)
model = PitNet()
grad_fn = nn.value_and_grad(model, bce)
velocity = tree_map(mx.zeros_like, model.trainable_parameters())
MOMENTUM, WD = 0.9, 5e-4
PEAK, FLOOR, WARMUP = 0.08, 0.002, 40
CYCLES = [100, 200, 400]         # SGDR cycle lengths after warm-up
BATCH = 256


def schedule():
    for i in range(WARMUP):
        yield 0, i, PEAK * i / WARMUP          # starts at exactly 0.0
    for c, length in enumerate(CYCLES, start=1):
        for i in range(length):
            yield c, i, FLOOR + 0.5 * (PEAK - FLOOR) * (1 + math.cos(math.pi * i / length))


def sgd_nesterov(params, grads, vel, lr):
    new_vel = tree_map(lambda v, g, p: MOMENTUM * v + g + WD * p, vel, grads, params)
    new_params = tree_map(lambda p, g, v, w: p - lr * (g + WD * w + MOMENTUM * v),
                          params, grads, new_vel, params)
    return new_params, new_vel


t0 = time.time()
step = 0
for cycle, it, lr in schedule():
    idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
    loss, grads = grad_fn(model, xtr[idx], ytr[idx])
    if step == 0:
        zero = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0]
        print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(grads)),
                          "zero_grad": zero}))
    params, velocity = sgd_nesterov(model.trainable_parameters(), grads, velocity, lr)
    model.update(params)
    mx.eval(model.parameters(), velocity, loss)
    step += 1
    if it % 40 == 0:
        logits = model(xva)
        vl = bce(model, xva, yva)
        prob = mx.sigmoid(logits)
        brier = mx.mean((prob - yva) ** 2)
        mx.eval(vl, brier, logits)
        print(json.dumps({"cycle": cycle, "it": it, "lr": round(lr, 5),
                          "bce": round(loss.item(), 4), "val_bce": round(vl.item(), 4),
                          "brier": round(brier.item(), 4),
                          "auc": round(auc(logits, yva), 4)}))

logits = model(xva)
mx.eval(logits)
base = float(yva.mean().item())
print(json.dumps({"event": "done", "steps": step, "val_bce": round(bce(model, xva, yva).item(), 4),
                  "auc": round(auc(logits, yva), 4),
                  "prior_bce": round(-(base * math.log(base) + (1 - base) * math.log(1 - base)), 4),
                  "secs": round(time.time() - t0, 1)}))
