"""Rope access: peak arrest force (kN) and dynamic elongation (%) in a
lead-fall, from rope and fall descriptors.  3-fold cross-validation, a
compiled Adamax step, linear warm-up of the learning rate from 0 then
cosine decay, restarted in every fold."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten

mx.random.seed(2031)
G = 9.81


def make_falls(n):
    mass = mx.random.uniform(55, 120, (n,))                 # kg, worker + kit
    fall_factor = mx.random.uniform(0.1, 1.8, (n,))
    rope_len = mx.random.uniform(2, 30, (n,))                # m
    modulus = mx.random.uniform(12, 32, (n,))                # kN, rope "EA"
    age = mx.random.uniform(0, 8, (n,))                      # years in service
    wet = (mx.random.uniform(0, 1, (n,)) < 0.3).astype(mx.float32)
    k_eff = modulus * (1 + 0.04 * age) * (1 + 0.15 * wet)  # ropes stiffen with age
    mg = mass * G / 1000.0                                   # kN
    f_peak = mg + mx.sqrt(mg**2 + 2 * mg * k_eff * fall_factor)
    elong = 100 * (f_peak - mg) / k_eff                      # %
    f_peak = f_peak * (1 + 0.03 * mx.random.normal((n,)))
    elong = elong * (1 + 0.03 * mx.random.normal((n,)))
    x = mx.stack(
        [(mass - 87) / 19, (fall_factor - 0.95) / 0.5, (rope_len - 16) / 8,
         (modulus - 22) / 6, (age - 4) / 2.3, wet - 0.3], axis=1)
    y = mx.stack([f_peak, elong], axis=1)
    return x, y


X, Y = make_falls(3000)
mu, sd = Y.mean(axis=0), Y.std(axis=0)
Yn = (Y - mu) / sd
K = 3


class ArrestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def rmse_units(model, x, y):
    pred = model(x) * sd + mu
    return mx.sqrt(mx.mean((pred - (y * sd + mu)) ** 2, axis=0))


EPOCHS, BS = 14, 50
print("| fold | ep | lr | loss | F err kN | elong err % | ref F kN | ref elong % |")
print("|---|---|---|---|---|---|---|---|")
summary = []
t0 = time.time()
for k in range(K):
    tr_idx = mx.array([i for i in range(X.shape[0]) if i % K != k])
    va_idx = mx.array([i for i in range(X.shape[0]) if i % K == k])
    xtr, ytr, xva, yva = X[tr_idx], Yn[tr_idx], X[va_idx], Yn[va_idx]
    ref = mx.sqrt(mx.mean((yva * sd + mu - (ytr * sd + mu).mean(axis=0)) ** 2, axis=0))

    model = ArrestNet()
    steps_per_ep = xtr.shape[0] // BS
    total = EPOCHS * steps_per_ep
    warm = 2 * steps_per_ep
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    mx.eval(model.parameters())

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, lambda m, a, b: nn.losses.mse_loss(m(a), b))(model, xb, yb)
        opt.update(model, grads)
        return loss

    if k == 0:
        _, g0 = nn.value_and_grad(model, lambda m, a, b: nn.losses.mse_loss(m(a), b))(model, xtr[:BS], ytr[:BS])
        zero = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
        print(f"<!-- gradient audit: {len(tree_flatten(g0)) - len(zero)} tensors non-zero, zero={zero} -->")

    for ep in range(EPOCHS):
        perm = mx.random.permutation(xtr.shape[0])
        lr_first = float(sched(opt.step))
        run = 0.0
        for s in range(steps_per_ep):
            b = perm[s * BS:(s + 1) * BS]
            loss = step(xtr[b], ytr[b])
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
        if ep in (0, 1, 2) or ep % 3 == 2 or ep == EPOCHS - 1:
            e = rmse_units(model, xva, yva)
            print(f"| {k} | {ep} | {lr_first:.2e} | {run / steps_per_ep:.4f} | "
                  f"{e[0].item():.3f} | {e[1].item():.2f} | {ref[0].item():.3f} | {ref[1].item():.2f} |")
    e = rmse_units(model, xva, yva)
    summary.append((e[0].item(), e[1].item()))

fe = sum(s[0] for s in summary) / K
ee = sum(s[1] for s in summary) / K
print(f"\nCV mean over {K} folds: F err {fe:.3f} kN, elong err {ee:.2f} %  ({time.time() - t0:.1f} s)")
