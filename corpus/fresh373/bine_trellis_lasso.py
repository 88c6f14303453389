"""Hop garden: cone yield (kg/ha) from eight bine-yard readings.

A SiLU MLP is fitted densely, then a group-lasso penalty on the outgoing
weight column of every hidden unit is switched on and ramped up.  After each
SGD step a proximal (block soft-threshold) step shrinks whole columns, so
hidden units switch off one by one.  At the end the switched-off units are
cut out of the network and the smaller network is checked against the big one.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL = 6000, 1500
N = N_TRAIN + N_VAL
bine_h = rng.uniform(4.0, 8.0, N)          # bine height, m
nitro = rng.uniform(60, 220, N)            # kg N / ha
rain = rng.uniform(250, 650, N)            # mm, May-Aug
sun = rng.uniform(900, 1400, N)            # sun hours
ph = rng.uniform(5.4, 7.6, N)              # soil pH
spacing = rng.uniform(1.6, 2.6, N)         # trellis row spacing, m
aphids = rng.gamma(2.0, 20.0, N)           # aphids per leaf at peak
tag = rng.normal(0, 1, N)                  # yard tag number, no effect

yield_kg = (
    1100
    + 180 * np.tanh((bine_h - 5.5) / 1.2)
    + 2.2 * nitro - 0.0055 * nitro ** 2
    + 0.9 * rain - 0.0009 * rain ** 2
    + 0.35 * (sun - 1100)
    - 260 * (ph - 6.6) ** 2
    - 140 * (spacing - 2.0) ** 2
    - 240 * np.log1p(aphids / 25.0)
)
NOISE_KG = 60.0
yield_kg = yield_kg + rng.normal(0, NOISE_KG, N)

X = np.stack([bine_h, nitro, rain, sun, ph, spacing, aphids, tag], 1).astype(np.float32)
y = yield_kg.astype(np.float32)[:, None]
mu, sd = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
X = (X - mu) / sd
y_mu, y_sd = y[:N_TRAIN].mean(), y[:N_TRAIN].std()
yz = (y - y_mu) / y_sd

Xtr, ytr = mx.array(X[:N_TRAIN]), mx.array(yz[:N_TRAIN])
Xva, yva = mx.array(X[N_TRAIN:]), mx.array(yz[N_TRAIN:])


class BineNet(nn.Module):
    def __init__(self, d_in, h1, h2):
        super().__init__()
        self.l1 = nn.Linear(d_in, h1)
        self.l2 = nn.Linear(h1, h2)
        self.l3 = nn.Linear(h2, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h)


H = 64
model = BineNet(8, H, H)
mx.eval(model.parameters())


def mse_fn(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


def group_norms(m):
    # outgoing columns: units of layer 1 live in l2.weight[:, j],
    # units of layer 2 live in l3.weight[:, j]
    g1 = mx.sqrt(mx.sum(m.l2.weight ** 2, axis=0))
    g2 = mx.sqrt(mx.sum(m.l3.weight ** 2, axis=0))
    return g1, g2


def val_rmse_kg(m):
    return math.sqrt(mx.mean((m(Xva) - yva) ** 2).item()) * float(y_sd)


loss_and_grad = nn.value_and_grad(model, mse_fn)
LR = 0.05
opt = optim.SGD(learning_rate=LR, momentum=0.9)

STEPS = 3000
DENSE_END = 800          # penalty weight is 0 before this step
RAMP_END = 1800          # ...and reaches LAM_MAX here
LAM_MAX = 0.03
BATCH = 100


def lam_at(step):
    if step <= DENSE_END:
        return 0.0
    return LAM_MAX * min(1.0, (step - DENSE_END) / (RAMP_END - DENSE_END))


def prox_(m, thr):
    """Block soft-threshold on the outgoing column of every hidden unit."""
    if thr <= 0.0:
        return
    for name in ("l2", "l3"):
        lay = getattr(m, name)
        w = lay.weight
        n = mx.sqrt(mx.sum(w * w, axis=0, keepdims=True))
        scale = mx.maximum(0.0, 1.0 - thr / mx.maximum(n, 1e-12))
        lay.weight = w * scale


def mail(subject, fields):
    print("From: trellis-fit@bineyard.local")
    print(f"Subject: {subject}")
    for k, v in fields:
        print(f"{k}: {v}")
    print()


base_rmse = float(np.sqrt(np.mean((y[N_TRAIN:] - y[:N_TRAIN].mean()) ** 2)))
Xd = np.c_[X[:N_TRAIN], np.ones(N_TRAIN)]
coef, *_ = np.linalg.lstsq(Xd, y[:N_TRAIN], rcond=None)
ols_rmse = float(np.sqrt(np.mean((np.c_[X[N_TRAIN:], np.ones(N_VAL)] @ coef - y[N_TRAIN:]) ** 2)))

mail("yard summary", [
    ("X-Rows", f"{N_TRAIN} train / {N_VAL} check"),
    ("X-Mean-Guess-RMSE-kg", f"{base_rmse:.1f}"),
    ("X-Linear-LSQ-RMSE-kg", f"{ols_rmse:.1f}"),
    ("X-Noise-Floor-kg", f"{NOISE_KG:.1f}"),
    ("X-Untrained-RMSE-kg", f"{val_rmse_kg(model):.1f}"),
    ("X-Hidden-Units", f"{H} + {H}"),
])

t0 = time.time()
perm = rng.permutation(N_TRAIN)
cur = 0
for step in range(1, STEPS + 1):
    if cur + BATCH > N_TRAIN:
        perm = rng.permutation(N_TRAIN)
        cur = 0
    idx = mx.array(perm[cur:cur + BATCH])
    cur += BATCH
    loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        mail("first step", [
            ("X-Gradient-Leaves", len(flat)),
            ("X-All-Zero-Leaves", ", ".join(zero) if zero else "none"),
            ("X-Batch-MSE-z", f"{loss.item():.4f}"),
        ])
    opt.update(model, grads)
    lam = lam_at(step)
    prox_(model, LR * lam)
    mx.eval(model.parameters(), opt.state, loss)

    if step in (200, 500, 800) or (step > 800 and step % 200 == 0):
        g1, g2 = group_norms(model)
        pen = lam * (mx.sum(g1) + mx.sum(g2)).item()
        full_mse = mx.mean((model(Xtr) - ytr) ** 2).item()
        a1 = int(mx.sum(g1 > 0).item())
        a2 = int(mx.sum(g2 > 0).item())
        phase = "dense" if step <= DENSE_END else ("ramp" if step <= RAMP_END else "hold")
        mail(f"step {step} ({phase})", [
            ("X-Lambda", f"{lam:.5f}"),
            ("X-Train-MSE-z", f"{full_mse:.4f}"),
            ("X-Objective", f"{full_mse + pen:.4f}"),
            ("X-Check-RMSE-kg", f"{val_rmse_kg(model):.1f}"),
            ("X-Active-Units", f"{a1}/{H} + {a2}/{H}"),
        ])

g1, g2 = group_norms(model)
keep1 = np.nonzero(np.array(g1) > 0)[0]
keep2 = np.nonzero(np.array(g2) > 0)[0]

small = BineNet(8, len(keep1), len(keep2))
k1, k2 = mx.array(keep1), mx.array(keep2)
small.l1.weight = model.l1.weight[k1]
small.l1.bias = model.l1.bias[k1]
small.l2.weight = model.l2.weight[k2][:, k1]
small.l2.bias = model.l2.bias[k2]
small.l3.weight = model.l3.weight[:, k2]
small.l3.bias = model.l3.bias
mx.eval(small.parameters())

n_big = sum(v.size for _, v in tree_flatten(model.parameters()))
n_small = sum(v.size for _, v in tree_flatten(small.parameters()))
drift = mx.max(mx.abs(model(Xva) - small(Xva))).item() * float(y_sd)
mail("cut", [
    ("X-Kept-Units", f"{len(keep1)} + {len(keep2)}"),
    ("X-Params", f"{n_big} -> {n_small}"),
    ("X-Prediction-Drift-kg", f"{drift:.2e}"),
    ("X-Check-RMSE-kg", f"{val_rmse_kg(small):.1f} (mean guess {base_rmse:.1f}, noise {NOISE_KG:.1f})"),
    ("X-Wall-Seconds", f"{time.time() - t0:.1f}"),
])
