"""Wet-felting workshop notebook: how much does a laid-out wool sheet shrink?

Two targets per sheet, both in percent: shrinkage along the length and along
the width after fulling.  Inputs are what the maker writes down at the bench.
The learning rate starts at exactly 0, warms up, then follows a cosine with two
warm restarts, so the loss bumps up a little after each restart.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(157)


def make_sheets(n):
    micron = rng.uniform(17.0, 34.0, n)          # fibre diameter
    layers = rng.integers(2, 7, n).astype(np.float64)
    water_c = rng.uniform(25.0, 60.0, n)          # water temperature
    soap_ph = rng.uniform(8.0, 10.5, n)
    roll_min = rng.uniform(5.0, 45.0, n)
    agitation = rng.uniform(0.0, 1.0, n)          # 0 = gentle rub, 1 = throwing
    merino = (rng.uniform(size=n) < 0.45).astype(np.float64)
    base = (
        14.0
        + 9.0 * merino
        - 0.35 * (micron - 24.0)
        + 6.0 * np.tanh((water_c - 40.0) / 12.0)
        + 3.5 * (soap_ph - 9.0)
        + 8.0 * (1.0 - np.exp(-roll_min / 18.0))
        + 5.0 * agitation ** 2
    )
    # width shrinks more on thick layups when thrown hard, length more when rolled long
    length = base + 0.12 * roll_min - 0.8 * layers + rng.normal(0, 1.2, n)
    width = base * (0.8 + 0.08 * layers) + 4.0 * agitation * (layers / 6.0) + rng.normal(0, 1.2, n)
    X = np.stack([micron, layers, water_c, soap_ph, roll_min, agitation, merino], axis=1)
    Y = np.stack([length, width], axis=1)
    return X.astype(np.float32), Y.astype(np.float32)


Xtr, Ytr = make_sheets(6000)
Xva, Yva = make_sheets(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
ymu, ysd = Ytr.mean(0), Ytr.std(0)

Xtr_m, Ytr_m = mx.array(Xtr), mx.array((Ytr - ymu) / ysd)
Xva_m, Yva_m = mx.array(Xva), mx.array(Yva)
ymu_m, ysd_m = mx.array(ymu), mx.array(ysd)


class FeltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 2)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


mx.random.seed(157)
model = FeltNet()
mx.eval(model.parameters())

WARM = 120
CYCLE = 500
N_CYCLES = 3
TOTAL = WARM + CYCLE * N_CYCLES
PEAK = 4e-3


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # exactly 0 at step 0
    k = (step - WARM) % CYCLE
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1.0 + math.cos(math.pi * k / CYCLE))


opt = optim.Adamax(learning_rate=0.0)
vg = nn.value_and_grad(model, loss_fn)

# baseline: predict the training mean for every sheet
base_mae = np.abs(Yva - ymu).mean(0)


def evaluate():
    pred = model(Xva_m) * ysd_m + ymu_m
    mae = mx.abs(pred - Yva_m).mean(axis=0)
    return [float(v) for v in mae.tolist()]


t0 = time.time()
BATCH = 96
run_loss = 0.0
for step in range(TOTAL):
    opt.learning_rate = lr_at(step)
    idx = mx.array(rng.integers(0, Xtr.shape[0], BATCH))
    loss, grads = vg(model, Xtr_m[idx], Ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss += loss.item()
    if step % 60 == 0 or step == TOTAL - 1:
        mae_len, mae_wid = evaluate()
        n_seen = 1 if step == 0 else (60 if step % 60 == 0 else step % 60)
        rec = {
            "it": step,
            "cycle": 0 if step < WARM else 1 + (step - WARM) // CYCLE,
            "lr": round(lr_at(step), 6),
            "huber_z": round(run_loss / n_seen, 4),
            "len_mae_pct": round(mae_len, 3),
            "wid_mae_pct": round(mae_wid, 3),
            "ref_len_mae_pct": round(float(base_mae[0]), 3),
            "ref_wid_mae_pct": round(float(base_mae[1]), 3),
        }
        print(json.dumps(rec), flush=True)
        run_loss = 0.0

mae_len, mae_wid = evaluate()
print(json.dumps({
    "final": True,
    "len_mae_pct": round(mae_len, 3),
    "wid_mae_pct": round(mae_wid, 3),
    "gain_vs_mean_len": round(float(base_mae[0]) / mae_len, 2),
    "gain_vs_mean_wid": round(float(base_mae[1]) / mae_wid, 2),
    "seconds": round(time.time() - t0, 1),
}))
