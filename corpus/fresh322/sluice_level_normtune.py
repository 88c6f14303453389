"""Lock-keeper's water-level log: next-reading forecast with a Gaussian head.

Pre-RMSNorm causal transformer, Gaussian negative log-likelihood (goes below zero).
Stage 1 ("upper lock"): all weights, gradient accumulation over 4 micro-batches,
MultiOptimizer (AdamW for matrices, Adam without decay for gains and biases),
warm-up from exactly 0. Stage 2 ("lower lock", other period and noise): everything
frozen except the RMSNorm gains and the output head, new warm-up from 0.
Output: one JSON object per line.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
L, D = 24, 32


def lock_series(n, period, noise, pulse):
    t = np.arange(L + 1)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.6, 1.2, (n, 1))
    drift = rng.normal(0, 0.01, (n, 1)) * t
    s = amp * np.sin(2 * np.pi * t / period + phase) + drift
    gate = rng.integers(4, L, n)
    s += pulse * (t >= gate[:, None])
    s += rng.normal(0, noise, s.shape)
    return s.astype(np.float32)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(D)
        self.att = nn.MultiHeadAttention(D, 4)
        self.n2 = nn.RMSNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, D))

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.mlp(self.n2(x))


class LevelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(1, D)
        self.pos = nn.Embedding(L, D)
        self.blocks = [Block(), Block()]
        self.fin = nn.RMSNorm(D)
        self.head = nn.Linear(D, 2)

    def __call__(self, x):
        h = self.inp(x[..., None]) + self.pos(mx.arange(x.shape[1]))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for b in self.blocks:
            h = b(h, mask)
        out = self.head(self.fin(h))
        return out[..., 0], mx.clip(out[..., 1], -8.0, 4.0)


def nll(model, s):
    mu, logv = model(s[:, :-1])
    tgt = s[:, 1:]
    return mx.mean(0.5 * (math.log(2 * math.pi) + logv + (tgt - mu) ** 2 * mx.exp(-logv)))


def floor(noise):
    return 0.5 * math.log(2 * math.pi * math.e * noise ** 2)


def count(tree):
    return sum(v.size for _, v in tree_flatten(tree))


model = LevelNet()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, nll)


def emit(**kw):
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in kw.items()}))


# ---------------- stage 1: upper lock, full training, accumulation 4 ----------------
up_train, up_val = lock_series(4096, 12.0, 0.05, 0.3), mx.array(lock_series(256, 12.0, 0.05, 0.3))
MICRO, ACC, STEPS1, WARM1 = 16, 4, 120, 24
sched1 = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM1), optim.cosine_decay(2e-3, STEPS1 - WARM1, 1e-4)], [WARM1])
opt1 = optim.MultiOptimizer(
    [optim.AdamW(learning_rate=sched1, weight_decay=0.05), optim.Adam(learning_rate=sched1)],
    [lambda path, w: w.ndim >= 2],
)
emit(event="start", stage=1, params=count(model.parameters()),
     trainable=count(model.trainable_parameters()), nll_floor=floor(0.05),
     val_nll=nll(model, up_val).item(), persistence_rmse=float(np.sqrt(np.mean(
         (np.array(up_val)[:, 1:] - np.array(up_val)[:, :-1]) ** 2))))

perm, cur = rng.permutation(len(up_train)), 0
for step in range(1, STEPS1 + 1):
    acc, tot = None, 0.0
    for m in range(ACC):
        if cur + MICRO > len(perm):
            perm, cur = rng.permutation(len(up_train)), 0
        batch = mx.array(up_train[perm[cur:cur + MICRO]])
        cur += MICRO
        loss, g = grad_fn(model, batch)
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        mx.eval(acc, loss)
        tot += loss.item()
        if step == 1:
            emit(event="micro", stage=1, opt_step=0, micro=m, nll=loss.item())
    opt1.update(model, tree_map(lambda a: a / ACC, acc))
    mx.eval(model.parameters(), opt1.state)
    if step % 24 == 0:
        mu, _ = model(up_val[:, :-1])
        emit(event="step", stage=1, step=step, lr=sched1(step - 1).item(), train_nll=tot / ACC,
             val_nll=nll(model, up_val).item(),
             val_rmse=mx.sqrt(mx.mean((mu - up_val[:, 1:]) ** 2)).item())

# ---------------- stage 2: lower lock, only norm gains + head train ----------------
lo_train, lo_val = lock_series(2048, 9.0, 0.08, -0.4), mx.array(lock_series(256, 9.0, 0.08, -0.4))
model.freeze()
for name, mod in model.named_modules():
    if isinstance(mod, nn.RMSNorm) or name == "head":
        mod.unfreeze()
frozen_before = {k: np.array(v) for k, v in tree_flatten(model.blocks[0].att.parameters())}
STEPS2, WARM2, BS2 = 90, 15, 32
sched2 = optim.join_schedules(
    [optim.linear_schedule(0.0, 5e-3, WARM2), optim.cosine_decay(5e-3, STEPS2 - WARM2, 2e-4)], [WARM2])
opt2 = optim.Adam(learning_rate=sched2)
emit(event="start", stage=2, params=count(model.parameters()),
     trainable=count(model.trainable_parameters()), nll_floor=floor(0.08),
     val_nll=nll(model, lo_val).item())
for step in range(1, STEPS2 + 1):
    batch = mx.array(lo_train[rng.integers(0, len(lo_train), BS2)])
    loss, g = grad_fn(model, batch)
    opt2.update(model, g)
    mx.eval(model.parameters(), opt2.state, loss)
    if step % 30 == 0:
        emit(event="step", stage=2, step=step, lr=sched2(step - 1).item(), train_nll=loss.item(),
             val_nll=nll(model, lo_val).item())

moved = max(float(np.abs(np.array(v) - frozen_before[k]).max())
            for k, v in tree_flatten(model.blocks[0].att.parameters()))
emit(event="done", upper_val_nll=nll(model, up_val).item(), lower_val_nll=nll(model, lo_val).item(),
     frozen_attention_max_change=moved)
