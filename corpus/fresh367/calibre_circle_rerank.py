"""Watchmaker bench: identify which movement calibre a timegrapher reading came from.

Each reading: rate (s/day), amplitude (deg) and beat error (ms) in 6 positions = 18 values.
Embeddings are trained with Circle loss (pairwise, cosine similarity), lr warmup from 0,
then a second stage with a lower constant lr. Recall@1 is compared with a raw-feature baseline.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N_CAL, DIM = 24, 18


def calibres():
    base = rng.normal(0, 1, (N_CAL, 6))
    mix = rng.normal(0, 1, (6, DIM)) / math.sqrt(6)
    return np.tanh(base @ mix) * 2.0


PROTO = calibres()


def readings(n_per):
    xs, ys = [], []
    for c in range(N_CAL):
        drift = rng.normal(0, 0.9, (n_per, DIM))
        gain = rng.uniform(0.8, 1.25, (n_per, 1))
        xs.append(PROTO[c] * gain + drift)
        ys.append(np.full(n_per, c))
    return mx.array(np.concatenate(xs).astype(np.float32)), mx.array(np.concatenate(ys))


xtr, ytr = readings(30)
xte, yte = readings(10)


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 24)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        z = self.out(h)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


def circle_loss(z, y, m=0.25, gamma=32.0):
    s = z @ z.T
    same = (y[:, None] == y[None, :]).astype(mx.float32)
    eye = mx.eye(s.shape[0])
    pos = same - eye
    neg = 1.0 - same
    ap = mx.stop_gradient(mx.maximum(1 + m - s, 0.0))
    an = mx.stop_gradient(mx.maximum(s + m, 0.0))
    lp = -gamma * ap * (s - (1 - m))
    ln = gamma * an * (s - m)
    big = 1e4
    lse_p = mx.logsumexp(lp - big * (1 - pos), axis=1)
    lse_n = mx.logsumexp(ln - big * (1 - neg), axis=1)
    return nn.softplus(lse_p + lse_n).mean()


def recall_at_1(za, ya, zb, yb):
    s = za @ zb.T
    return (yb[mx.argmax(s, axis=1)] == ya).astype(mx.float32).mean().item()


def norm(x):
    return x / mx.sqrt((x * x).sum(-1, keepdims=True))


mx.random.seed(3)
model = Tower()
mx.eval(model.parameters())
WARM, STAGE1, STAGE2 = 100, 500, 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STAGE1 - WARM, 2e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, lambda mdl, x, y: circle_loss(mdl(x), y))

base_r1 = recall_at_1(norm(xte), yte, norm(xtr), ytr)
print(f"baseline raw-feature recall@1 = {base_r1:.3f}  chance = {1/N_CAL:.3f}")


def batch():
    cls = rng.choice(N_CAL, 12, replace=False)
    idx = np.concatenate([rng.choice(np.where(np.array(ytr) == c)[0], 8, replace=False) for c in cls])
    idx = mx.array(idx)
    return xtr[idx], ytr[idx]


t0 = time.time()
step = 0
for _ in range(STAGE1):
    x, y = batch()
    loss, g = loss_and_grad(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        print(f"stage1 step {step:4d} lr {opt.learning_rate.item():.2e} loss {loss.item():8.3f}")
    step += 1
r1 = recall_at_1(model(xte), yte, model(xtr), ytr)
print(f"after stage1 recall@1 = {r1:.3f}")

opt2 = optim.AdamW(learning_rate=1e-4, weight_decay=1e-4)
for i in range(STAGE2):
    x, y = batch()
    loss, g = loss_and_grad(model, x, y)
    opt2.update(model, g)
    mx.eval(model.parameters(), opt2.state, loss)
    if i == STAGE2 - 1:
        print(f"stage2 step {step:4d} lr 1.00e-04 loss {loss.item():8.3f}")
    step += 1
r1 = recall_at_1(model(xte), yte, model(xtr), ytr)
print(f"final recall@1 = {r1:.3f}  (baseline {base_r1:.3f})  time {time.time()-t0:.1f}s")
