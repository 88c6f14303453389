"""Sugarbush notebook: predict tomorrow's sap run (litres per tap per day) from
freeze-thaw weather and tree readings.  MLP trained with AdamW under SGDR
(three warm-restart cycles, each warming up from lr = 0)."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TRAIN, N_VAL = 5000, 1200


def make_days(n):
    tmin = rng.normal(-4.0, 4.0, n)          # overnight low, C
    tmax = rng.normal(5.0, 4.5, n)           # daytime high, C
    snow = rng.gamma(2.0, 12.0, n)           # snowpack, cm
    dbh = rng.uniform(25.0, 70.0, n)         # trunk diameter, cm
    crown = rng.uniform(0.3, 0.8, n)         # crown ratio
    tapday = rng.integers(0, 45, n).astype(np.float64)  # days since tapping
    south = (rng.random(n) < 0.4).astype(np.float64)
    freeze = np.maximum(-tmin, 0.0)
    thaw = np.maximum(tmax, 0.0)
    swing = np.tanh(freeze / 5.0) * np.tanh(thaw / 6.0)   # needs both
    size = (dbh / 45.0) ** 1.3 * (0.6 + crown)
    drying = np.exp(-tapday / 30.0)
    snowcool = 1.0 / (1.0 + np.exp((snow - 40.0) / 10.0)) * 0.4 + 0.8
    flow = 4.2 * swing * size * drying * snowcool * (1.0 + 0.25 * south)
    flow = flow + rng.normal(0.0, 0.18, n)
    x = np.stack([tmin, tmax, snow, dbh, crown, tapday, south], 1)
    return x.astype(np.float32), np.maximum(flow, 0.0).astype(np.float32)


xtr, ytr = make_days(N_TRAIN)
xva, yva = make_days(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr_n, xva_n = (xtr - mu) / sd, (xva - mu) / sd

# reference values printed beside the model: climatology and the linear rule
clim_mae = float(np.abs(yva - ytr.mean()).mean())
A = np.c_[xtr_n, np.ones(len(xtr_n))]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
lin_mae = float(np.abs(np.c_[xva_n, np.ones(len(xva_n))] @ coef - yva).mean())

Xtr, Ytr = mx.array(xtr_n), mx.array((ytr - ymu) / ysd)
Xva = mx.array(xva_n)


class SapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = SapNet()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


step = mx.compile(step, inputs=state, outputs=state)

# one-off gradient audit before training: every weight must get signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], Ytr[:256])
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print("grad audit:", " ".join(f"{k}={v:.2e}" for k, v in gn.items()))
assert all(v > 0 for v in gn.values())

BATCH = 100
PEAK = 3e-3
CYCLES = [(1, 6), (2, 12), (3, 24)]     # (cycle id, epochs)
WARM = 25                               # steps of linear warmup from exactly 0
steps_per_epoch = N_TRAIN // BATCH
t0 = time.time()


def bar(frac, width=20):
    k = int(round(frac * width))
    return "#" * k + "." * (width - k)


for cyc, epochs in CYCLES:
    total = epochs * steps_per_epoch
    s = 0
    for ep in range(epochs):
        perm = mx.array(rng.permutation(N_TRAIN))
        run = 0.0
        for b in range(steps_per_epoch):
            if s < WARM:
                lr = PEAK * s / WARM
            else:
                lr = 0.5 * PEAK * (1 + math.cos(math.pi * (s - WARM) / (total - WARM)))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
            s += 1
            if s % 100 == 0 or s == total:
                print(f"cycle {cyc}/3 {s:4d}/{total} |{bar(s / total)}| "
                      f"{100 * s / total:3.0f}% lr={lr:.2e} huber={run / (b + 1):.4f} "
                      f"[{time.time() - t0:4.1f}s]")
    pred = model(Xva) * ysd + ymu
    mae = float(mx.abs(pred - mx.array(yva)).mean())
    rmse = float(mx.sqrt(((pred - mx.array(yva)) ** 2).mean()))
    print(f"  -> end of cycle {cyc}: val MAE {mae:.3f} L/tap/day  RMSE {rmse:.3f}  "
          f"(linear rule {lin_mae:.3f}, climatology {clim_mae:.3f})  "
          f"skill vs rule {100 * (1 - mae / lin_mae):.1f}%")

print(f"done in {time.time() - t0:.1f}s")
