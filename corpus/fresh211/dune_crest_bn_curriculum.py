"""Barchan dune crest migration (m/yr) from wind-regime features.
BatchNorm MLP, Adam with a warmup that starts at lr = 0, two-stage curriculum
(calm sites first, then gusty sites are added). JSON lines per epoch."""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)

def make_sites(n, gusty):
    wind = rng.uniform(4, 14, n)            # mean wind speed m/s
    gust = rng.uniform(0, 1, n) * (2.5 if gusty else 0.6)
    height = rng.uniform(2, 20, n)          # dune height m
    moist = rng.uniform(0, 0.3, n)          # surface moisture
    veg = rng.uniform(0, 0.5, n)            # vegetation cover
    dirv = rng.uniform(0.5, 1.0, n)         # directional variability (1 = unimodal)
    flux = np.maximum(wind - 5.0, 0) ** 2 * (1 + 0.8 * gust) * (1 - 2 * moist) * (1 - veg) * dirv
    rate = 40.0 * flux / (height + 3.0) + rng.normal(0, 0.6 + 1.2 * gust, n)
    X = np.stack([wind, gust, height, moist, veg, dirv], 1)
    return X.astype(np.float32), rate.astype(np.float32)

Xc, yc = make_sites(2400, gusty=False)
Xg, yg = make_sites(2400, gusty=True)
(Xv1, yv1), (Xv2, yv2) = make_sites(400, False), make_sites(400, True)
Xv, yv = np.concatenate([Xv1, Xv2]), np.concatenate([yv1, yv2])
mu, sd = np.concatenate([Xc, Xg]).mean(0), np.concatenate([Xc, Xg]).std(0)
ymu, ysd = float(np.concatenate([yc, yg]).mean()), float(np.concatenate([yc, yg]).std())
norm = lambda X: mx.array((X - mu) / sd)

class CrestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.bn1 = nn.BatchNorm(64)
        self.l2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        x = nn.gelu(self.bn1(self.l1(x)))
        x = nn.gelu(self.bn2(self.l2(x)))
        return self.out(x).squeeze(-1)

mx.random.seed(3)
model = CrestNet()
EPOCHS, BS = 24, 96
steps_per_epoch_max = (len(Xc) + len(Xg)) // BS
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch_max, 1e-5)], [60])
opt = optim.Adam(learning_rate=sched)

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)
Xv_m, yv_n = norm(Xv), (yv - ymu) / ysd
baseline_mae = float(np.abs(yv - np.median(yv)).mean())

for ep in range(EPOCHS):
    stage = "calm" if ep < 8 else "calm+gusty"
    if ep < 8:
        X, y = Xc, yc
    else:
        X, y = np.concatenate([Xc, Xg]), np.concatenate([yc, yg])
    perm = rng.permutation(len(X))
    model.train()
    tot, nb = 0.0, 0
    for i in range(0, len(X) - BS + 1, BS):
        idx = perm[i:i + BS]
        xb, yb = norm(X[idx]), mx.array((y[idx] - ymu) / ysd)
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), model.state, opt.state, loss)
        tot += loss.item(); nb += 1
    model.eval()
    pred = np.array(model(Xv_m)) * ysd + ymu
    mae = float(np.abs(pred - yv).mean())
    gusty_mae = float(np.abs(pred[400:] - yv[400:]).mean())
    print(json.dumps({"epoch": ep, "stage": stage, "lr": round(float(opt.learning_rate.item()), 6),
                      "train_huber": round(tot / nb, 4), "val_mae_m_per_yr": round(mae, 3),
                      "gusty_mae": round(gusty_mae, 3), "median_baseline_mae": round(baseline_mae, 3)}))
