"""Handspinning log: predict yarn twist (turns per inch) from wheel + fibre settings.

Inputs are standardised with train-set statistics, and the loop adds sensor
jitter to the standardised inputs on the fly. Stage "calm" uses light jitter,
stage "rough" deliberately uses heavy jitter (robustness drill), so the
*augmented* training loss jumps when the stage changes; the clean validation
error is what we care about. Learning rate warms up from exactly 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(221)


def make_log(n):
    drive_ratio = rng.uniform(5.0, 18.0, n)        # wheel turns -> flyer turns
    treadle_hz = rng.uniform(0.6, 1.6, n)          # treadles per second
    draft_in = rng.uniform(2.0, 9.0, n)            # inches drafted per treadle
    staple_in = rng.uniform(1.0, 6.0, n)           # fibre staple length
    micron = rng.uniform(17.0, 34.0, n)            # fibre diameter
    brake = rng.uniform(0.0, 1.0, n)               # scotch tension knob
    humidity = rng.uniform(25.0, 80.0, n)          # % RH in the room
    tpi = (drive_ratio * treadle_hz / (draft_in * treadle_hz * 0.55 + 0.4)
           * (1.0 + 0.12 * (30.0 - micron) / 10.0)
           * (1.0 - 0.25 * brake)
           + 0.6 * np.log(staple_in) * (brake - 0.5)
           - 0.004 * (humidity - 50.0))
    tpi = tpi + rng.normal(0.0, 0.15, n)
    X = np.stack([drive_ratio, treadle_hz, draft_in, staple_in, micron, brake, humidity], 1)
    return X.astype(np.float32), tpi.astype(np.float32)


Xtr, ytr = make_log(4000)
Xva, yva = make_log(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_n = mx.array((Xtr - mu) / sd)
Xva_n = mx.array((Xva - mu) / sd)
ytr_n = mx.array((ytr - ymu) / ysd)
yva_raw = mx.array(yva)

# reference: predict the train-mean twist for every skein
baseline_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))


class TwistNet(nn.Module):
    def __init__(self, d_in=7, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x).squeeze(-1)


mx.random.seed(221)
model = TwistNet()
mx.eval(model.parameters())

BATCH = 100
EPOCHS = 16
steps_per_epoch = Xtr_n.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch * 2
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


def jitter_for(epoch):
    return ("calm", 0.05) if epoch < 8 else ("rough", 0.45)


t0 = time.time()
for epoch in range(EPOCHS):
    stage, sigma = jitter_for(epoch)
    perm = mx.random.permutation(Xtr_n.shape[0])  # fresh order every epoch
    tot = 0.0
    lr_first = float(opt.learning_rate) if epoch == 0 else None
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        xb = Xtr_n[idx]
        xb = xb + sigma * mx.random.normal(xb.shape)  # new jitter each step
        loss, grads = grad_fn(model, xb, ytr_n[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    pred = model(Xva_n) * ysd + ymu
    rmse = math.sqrt(mx.mean((pred - yva_raw) ** 2).item())
    rec = {
        "ep": epoch,
        "stage": stage,
        "jitter": sigma,
        "lr": round(float(opt.learning_rate), 6),
        "aug_mse_z": round(tot / steps_per_epoch, 4),
        "val_rmse_tpi": round(rmse, 4),
        "ref_mean_rmse_tpi": round(baseline_rmse, 4),
    }
    if lr_first is not None:
        rec["lr_at_step0"] = lr_first
    print(json.dumps(rec))

print(json.dumps({"done": True, "final_val_rmse_tpi": round(rmse, 4),
                  "skill_vs_ref": round(1 - rmse / baseline_rmse, 3),
                  "secs": round(time.time() - t0, 1)}))
