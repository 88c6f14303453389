"""Sitar meend (string-pull) bend predictor.

Predict how many cents a pulled sitar string rises, from bench readings.
One-process data-parallel style (mx.distributed), a hand-written VJP for the
activation, and a warm-up that starts at a learning rate of exactly 0.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1207)


def make_bench(n):
    pull_mm = rng.uniform(0.0, 14.0, n)          # lateral pull at the fret
    fret = rng.integers(1, 20, n).astype(np.float64)
    gauge = rng.choice([0.30, 0.33, 0.36, 0.40], n)
    tension_kg = rng.uniform(5.0, 9.5, n)
    humidity = rng.uniform(25.0, 85.0, n)
    jawari_wear = rng.uniform(0.0, 1.0, n)
    speaking_len = 900.0 * 2.0 ** (-fret / 12.0)
    strain = (pull_mm / (0.5 * speaking_len)) ** 2
    cents = 1200.0 * np.log2(1.0 + 0.5 * strain * (60.0 / tension_kg) * 60.0)
    cents *= 1.0 + 0.6 * (gauge - 0.33)
    cents += 0.05 * (humidity - 55.0) - 6.0 * jawari_wear * (pull_mm > 7)
    cents += rng.normal(0.0, 4.0, n)
    X = np.stack([pull_mm, fret, gauge, tension_kg, humidity, jawari_wear], 1)
    return X.astype(np.float32), cents.astype(np.float32)


Xtr, ytr = make_bench(4000)
Xva, yva = make_bench(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_n = (ytr - ymu) / ysd


@mx.custom_function
def swish(x):
    return x * mx.sigmoid(x)


@swish.vjp
def swish_vjp(primals, cotangent, output):
    x = primals  # one input: MLX passes the array itself
    s = mx.sigmoid(x)
    return cotangent * (s * (1.0 + x * (1.0 - s)))


class BendNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = swish(self.l1(x))
        h = swish(self.l2(h))
        return self.out(h).squeeze(-1)


group = mx.distributed.init()
world = group.size()
model = BendNet(Xtr.shape[1])
mx.eval(model.parameters())

steps_per_epoch = len(Xtr) // 100
epochs = 30
total = steps_per_epoch * epochs
warm = steps_per_epoch * 2
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# audit: hand VJP against autograd of the same expression
probe = mx.array(np.linspace(-5, 5, 101).astype(np.float32))
g_hand = mx.grad(lambda z: swish(z).sum())(probe)
g_auto = mx.grad(lambda z: (z * mx.sigmoid(z)).sum())(probe)
print(json.dumps({"audit": "swish_vjp", "max_abs_diff": float(mx.abs(g_hand - g_auto).max()), "world": world}))

_, g0 = loss_and_grad(model, mx.array(Xtr_n[:256]), mx.array(ytr_n[:256]))
gn = {k: round(float(mx.linalg.norm(v)), 5) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms_step0", **gn}))

base_mae = float(np.abs(yva - ymu).mean())
xv = mx.array(Xva_n)
t0 = time.time()
step = 0
for epoch in range(1, epochs + 1):
    perm = rng.permutation(len(Xtr))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * 100:(b + 1) * 100]
        loss, grads = loss_and_grad(model, mx.array(Xtr_n[idx]), mx.array(ytr_n[idx]))
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        pred = model(xv) * ysd + ymu
        mae = float(mx.abs(pred - mx.array(yva)).mean())
        rec = {"ep": epoch, "step": step, "lr_next": round(float(opt.learning_rate), 6),
               "huber_z": round(run / steps_per_epoch, 4),
               "val_mae_cents": round(mae, 2), "mean_guess_mae_cents": round(base_mae, 2)}
        print(json.dumps(rec))

print(json.dumps({"done": True, "steps": step, "seconds": round(time.time() - t0, 1)}))
