"""Fountain-pen ink flow: how many mg of ink per metre of writing?

Synthetic bench data (made-up law): nib width, feed fins, ink viscosity,
paper sizing, writing speed and room temperature -> ink laid down (mg/m).
MLP regressor, AdamW, cosine schedule with warm restarts where each cycle
starts from lr = 0 and warms up again.  One JSON object per log line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1437)
N_TRAIN, N_VAL = 6000, 1500


def make_pens(n):
    nib = rng.uniform(0.3, 1.5, n)          # nib width, mm
    fins = rng.integers(4, 16, n).astype(np.float64)
    visc = rng.uniform(1.0, 4.5, n)         # mPa s
    sizing = rng.uniform(0.0, 1.0, n)       # 0 = blotter, 1 = heavily sized
    speed = rng.uniform(2.0, 12.0, n)       # cm/s
    temp = rng.uniform(15.0, 32.0, n)       # deg C
    flow = (
        4.0 * nib ** 1.3
        + 0.12 * fins
        - 1.1 * np.log(visc)
        + 1.5 * (1.0 - sizing) * nib
        - 0.18 * speed * sizing
        + 0.04 * (temp - 20.0) * nib
        + 3.0
    )
    flow = flow + rng.normal(0.0, 0.15, n)
    x = np.stack([nib, fins, visc, sizing, speed, temp], axis=1)
    return x.astype(np.float32), flow.astype(np.float32)


xtr, ytr = make_pens(N_TRAIN)
xva, yva = make_pens(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ymu = float(ytr.mean())
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)
baseline_mae = float(np.abs(yva - ymu).mean())   # predict the train mean


class InkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1) + ymu


mx.random.seed(1437)
model = InkNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off check that every layer receives gradient
_, g0 = grad_fn(model, Xtr[:256], Ytr[:256])
for name, g in nn.utils.tree_flatten(g0):
    assert float(mx.abs(g).sum()) > 0.0, name

CYCLES = [150, 300, 600]     # steps per cycle (SGDR, doubling)
WARM = 20                    # linear warm-up from exactly 0 each cycle
PEAK = [3e-3, 2e-3, 1.2e-3]
BATCH = 128


def lr_at(k, length, peak):
    if k < WARM:
        return peak * k / WARM
    t = (k - WARM) / max(1, length - WARM)
    return 0.5 * peak * (1.0 + math.cos(math.pi * t))


t0 = time.time()
gstep = 0
perm = np.array([], dtype=np.int64)
for c, (length, peak) in enumerate(zip(CYCLES, PEAK)):
    run = 0.0
    for k in range(length):
        if perm.size < BATCH:
            perm = np.concatenate([perm, rng.permutation(N_TRAIN)])
        idx, perm = perm[:BATCH], perm[BATCH:]
        lr = lr_at(k, length, peak)
        opt.learning_rate = lr
        loss, grads = grad_fn(model, Xtr[mx.array(idx)], Ytr[mx.array(idx)])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        gstep += 1
        if (k + 1) % 50 == 0 or k == 0:
            pred = model(Xva)
            val_mae = mx.mean(mx.abs(pred - Yva)).item()
            rec = {
                "step": gstep,
                "cycle": c + 1,
                "cycle_step": k + 1,
                "lr": round(lr, 6),
                "train_mse_mg2_per_m2": round(run / (1 if k == 0 else 50), 4),
                "val_mae_mg_per_m": round(val_mae, 4),
                "mean_guess_mae_mg_per_m": round(baseline_mae, 4),
            }
            print(json.dumps(rec), flush=True)
            run = 0.0

pred = model(Xva)
final_mae = mx.mean(mx.abs(pred - Yva)).item()
ss_res = mx.sum((pred - Yva) ** 2).item()
ss_tot = float(((yva - yva.mean()) ** 2).sum())
print(json.dumps({
    "event": "done",
    "steps": gstep,
    "val_mae_mg_per_m": round(final_mae, 4),
    "noise_floor_mae": round(0.15 * math.sqrt(2 / math.pi), 4),
    "r2": round(1 - ss_res / ss_tot, 4),
    "seconds": round(time.time() - t0, 2),
}))
