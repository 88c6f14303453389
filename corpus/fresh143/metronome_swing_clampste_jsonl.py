"""Workshop bench notes: mechanical metronome calibration.

Predict two things from bench readings of a wind-up metronome:
  * tempo error in BPM versus the dial marking
  * tick/tock swing asymmetry in milliseconds

Hidden activations go through a clamp whose backward pass is the identity
(straight-through), written with mx.custom_function.  Learning rate warms up
from exactly zero, then cosine decays.  One JSON object per log line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(1807)
N_TRAIN, N_VAL = 2400, 600


def bench_readings(n):
    pos = rng.uniform(0.0, 12.0, n)          # sliding weight position on rod, cm
    wind = rng.uniform(0.05, 1.0, n)          # spring wind fraction
    temp = rng.normal(21.0, 4.0, n)           # workshop temperature, deg C
    tilt = rng.normal(0.0, 1.5, n)            # base tilt, degrees
    wear = rng.gamma(2.0, 3.0, n)             # years since last service
    bpm_err = (0.35 * tilt ** 2 - 2.2 * np.exp(-4.0 * wind) + 0.04 * (temp - 21.0) * pos
               - 0.06 * wear + 0.3 * np.sin(pos) + rng.normal(0.0, 0.25, n))
    swing_ms = (9.0 * np.abs(tilt) + 1.5 * wear ** 0.5 - 3.0 * wind
                + rng.normal(0.0, 1.0, n))
    X = np.stack([pos / 12.0, wind, (temp - 21.0) / 4.0, tilt / 1.5, wear / 6.0], 1)
    Y = np.stack([bpm_err, swing_ms], 1)
    return X.astype(np.float32), Y.astype(np.float32)


Xtr, Ytr = bench_readings(N_TRAIN)
Xva, Yva = bench_readings(N_VAL)
y_mu, y_sd = Ytr.mean(0), Ytr.std(0)
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
Ytr_n = mx.array((Ytr - y_mu) / y_sd)
Yva_raw = mx.array(Yva)
y_mu_a, y_sd_a = mx.array(y_mu), mx.array(y_sd)


@mx.custom_function
def clamp_ste(x):
    return mx.clip(x, -3.0, 3.0)


@clamp_ste.vjp
def clamp_ste_vjp(primals, cotangent, output):
    # straight-through: pass the gradient as if the clamp were the identity
    return (cotangent,)


class BenchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 48)
        self.mid = nn.Linear(48, 48)
        self.bpm_head = nn.Linear(48, 1)
        self.swing_head = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(clamp_ste(self.inp(x)))
        h = nn.silu(clamp_ste(self.mid(h))) + h
        return mx.concatenate([self.bpm_head(h), self.swing_head(h)], axis=1)


def losses(model, x, y):
    d = model(x) - y
    per_head = mx.mean(d * d, axis=0)
    return per_head[0] + per_head[1], per_head


mx.random.seed(1807)
model = BenchNet()
mx.eval(model.parameters())

STEPS, WARM, BATCH = 1000, 100, 96
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, WARM), optim.cosine_decay(0.05, STEPS - WARM, 1e-4)],
    [WARM],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def scalar_loss(model, x, y):
    return losses(model, x, y)[0]


vg = nn.value_and_grad(model, scalar_loss)

# baseline: predict the training mean for every bench reading
base = mx.sqrt(mx.mean((y_mu_a - Yva_raw) ** 2, axis=0))
mx.eval(base)


def val_rmse():
    pred = model(Xva) * y_sd_a + y_mu_a
    return mx.sqrt(mx.mean((pred - Yva_raw) ** 2, axis=0))


# check the straight-through path gives every parameter a gradient
_, g0 = vg(model, Xtr[:BATCH], Ytr_n[:BATCH])
zero_grads = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "params": len(tree_flatten(g0)),
                  "zero_grad_params": zero_grads}))

t0 = time.time()
perm = np.arange(N_TRAIN)
for step in range(STEPS):
    if step % (N_TRAIN // BATCH) == 0:
        rng.shuffle(perm)
    j = (step % (N_TRAIN // BATCH)) * BATCH
    idx = mx.array(perm[j:j + BATCH])
    xb, yb = Xtr[idx], Ytr_n[idx]
    lr_now = float(opt.learning_rate)
    loss, grads = vg(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0 or step == STEPS - 1:
        _, heads = losses(model, xb, yb)
        gnorm = math.sqrt(sum(float(mx.sum(g * g)) for _, g in tree_flatten(grads)))
        vr = val_rmse()
        print(json.dumps({
            "step": step, "lr": round(lr_now, 6),
            "train_mse_bpm_z": round(float(heads[0]), 4),
            "train_mse_swing_z": round(float(heads[1]), 4),
            "val_rmse_bpm": round(float(vr[0]), 3),
            "val_rmse_swing_ms": round(float(vr[1]), 3),
            "baseline_rmse_bpm": round(float(base[0]), 3),
            "baseline_rmse_swing_ms": round(float(base[1]), 3),
            "grad_norm": round(gnorm, 4),
        }))

vr = val_rmse()
r2 = 1.0 - (vr * vr) / (base * base)
print(json.dumps({"event": "summary", "seconds": round(time.time() - t0, 2),
                  "val_rmse_bpm": round(float(vr[0]), 3),
                  "val_rmse_swing_ms": round(float(vr[1]), 3),
                  "r2_bpm": round(float(r2[0]), 3), "r2_swing": round(float(r2[1]), 3)}))
