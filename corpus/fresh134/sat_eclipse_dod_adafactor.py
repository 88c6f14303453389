# Satellite battery depth-of-discharge predictor.
# Two-stage curriculum: first only shallow (mostly-sunlit) orbits, then all
# orbits including deep eclipse seasons. LR warms up from exactly 0.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(134)
N = 1400
beta = rng.uniform(-75, 75, N)                      # deg, sun beta angle
alt = rng.uniform(450, 800, N)                      # km
ecl_frac = np.clip(0.42 * np.cos(np.radians(beta)) * (1 - (alt - 450) / 1400) - 0.05, 0, 0.42)
load_w = rng.uniform(60, 180, N)                    # bus load, W
cycles = rng.uniform(0, 20000, N)                   # battery age
temp_c = rng.normal(18, 6, N)                       # pack temperature
heater = (temp_c < 10).astype(np.float64)
period_min = 2 * math.pi * np.sqrt(((6371 + alt) * 1e3) ** 3 / 3.986e14) / 60
# depth of discharge in percent of a 40 Ah / 28 V pack (made-up physics)
energy_wh = (load_w + 25 * heater) * ecl_frac * period_min / 60
cap_wh = 1120 * (1 - 0.18 * cycles / 20000) * (1 - 0.01 * np.abs(temp_c - 20))
dod = 100 * energy_wh / cap_wh + rng.normal(0, 0.35, N)

X = np.stack([beta / 75, (alt - 625) / 175, ecl_frac / 0.42, (load_w - 120) / 60,
              cycles / 20000, (temp_c - 18) / 6, heater], axis=1).astype(np.float32)
Y = dod.astype(np.float32)[:, None]
y_mu, y_sd = float(Y.mean()), float(Y.std())

idx = rng.permutation(N)
tr, va = idx[:1150], idx[1150:]
Xtr, Ytr, Xva, Yva = mx.array(X[tr]), mx.array((Y[tr] - y_mu) / y_sd), mx.array(X[va]), mx.array(Y[va])
shallow = np.where(X[tr, 2] < 0.45)[0]              # stage-1 subset: short eclipses

class DodNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)

mx.random.seed(7)
model = DodNet()
WARM, TOTAL = 25, 420
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, WARM), optim.cosine_decay(4e-3, TOTAL - WARM, 2e-4)], [WARM])
opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False, beta_1=0.9)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

grad_fn = nn.value_and_grad(model, loss_fn)
base_mae = float(np.abs(Y[va] - Y[tr].mean()).mean())

def val_mae():
    pred = model(Xva) * y_sd + y_mu
    return float(mx.abs(pred - Yva).mean())

t0 = time.time()
B = 64
for step in range(TOTAL):
    stage = "shallow" if step < 150 else "all_seasons"
    pool = shallow if stage == "shallow" else np.arange(len(tr))
    bi = mx.array(rng.choice(pool, B, replace=False))
    lr_now = float(sched(mx.array(step)))
    loss, grads = grad_fn(model, Xtr[bi], Ytr[bi])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 15 == 0 or step == TOTAL - 1:
        rec = {"stage": stage, "step": step, "lr": round(lr_now, 6),
               "train_mse_z": round(float(loss), 4),
               "val_mae_pct": round(val_mae(), 3), "mean_predictor_mae_pct": round(base_mae, 3)}
        print(json.dumps(rec), flush=True)

print(json.dumps({"event": "done", "val_mae_pct": round(val_mae(), 3),
                  "mean_predictor_mae_pct": round(base_mae, 3), "wall_s": round(time.time() - t0, 2)}))
