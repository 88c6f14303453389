"""Smokehouse: predict the cook-shrink index of a ham batch (0-100 %: the share
of the attainable moisture loss it reached) from the chamber's 16-point
temperature log. GRU regressor, RMSprop, SGDR-style warm restarts
(each cycle ramps the learning rate up from exactly 0 again).
Emits one JSON object per log line."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def chamber_logs(n):
    peak = rng.uniform(56.0, 70.0, n)          # chamber set point, deg C
    ramp = rng.uniform(0.35, 0.9, n)           # fraction of the cycle spent heating up
    soak = rng.uniform(0.05, 0.3, n)           # fraction held at set point
    t = np.linspace(0.0, 1.0, 16)[None, :]
    up = np.clip(t / ramp[:, None], 0, 1)
    hold_end = (ramp + soak)[:, None]
    down = np.clip((t - hold_end) / 0.25, 0, 1)
    temp = 2.0 + (peak[:, None] - 2.0) * up * (1 - 0.8 * down)
    temp += rng.normal(0, 0.4, temp.shape)
    # shrink: moisture leaves fast above ~60 C chamber temperature (heat-work above it)
    work = np.clip(temp - 60.0, 0, None).mean(axis=1)
    shrink = 100.0 / (1.0 + np.exp(-(work - 1.2) / 0.5))
    shrink += rng.normal(0, 2.0, n)
    x = ((temp - 35.0) / 20.0)[..., None].astype(np.float32)
    return x, shrink.astype(np.float32)


x_tr, y_tr = chamber_logs(2048)
x_va, y_va = chamber_logs(512)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
Xtr, Ytr = mx.array(x_tr), mx.array((y_tr - y_mu) / y_sd)
Xva, Yva_pct = mx.array(x_va), mx.array(y_va)
baseline_mae = float(np.abs(y_va - y_mu).mean())


class ChamberGRU(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.rnn = nn.GRU(1, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.rnn(x)
        return self.head(h[:, -1, :]).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


mx.random.seed(5)
model = ChamberGRU()
mx.eval(model.parameters())

CYCLES, STEPS_PER_CYCLE, WARM, PEAK_LR = 3, 70, 10, 4e-3


def lr_at(step_in_cycle, cycle):
    peak = PEAK_LR * (0.6 ** cycle)
    if step_in_cycle < WARM:
        return peak * step_in_cycle / WARM          # starts at exactly 0.0
    p = (step_in_cycle - WARM) / (STEPS_PER_CYCLE - WARM)
    return 0.5 * peak * (1 + math.cos(math.pi * p))


opt = optim.RMSprop(learning_rate=0.0, alpha=0.95)
loss_and_grad = nn.value_and_grad(model, mse)

# one-off audit: every trainable tensor must receive gradient
_, g0 = loss_and_grad(model, Xtr[:64], Ytr[:64])
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "tensors": len(norms),
                  "min_norm": round(min(norms.values()), 6),
                  "max_norm": round(max(norms.values()), 6)}))

t0 = time.perf_counter()
B = 64
for cycle in range(CYCLES):
    run = 0.0
    for s in range(STEPS_PER_CYCLE):
        opt.learning_rate = lr_at(s, cycle)
        idx = mx.array(rng.integers(0, len(x_tr), B))
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if (s + 1) % 14 == 0:
            pred_pct = model(Xva) * y_sd + y_mu
            va_mse = float(mx.mean(((pred_pct - Yva_pct) / y_sd) ** 2))
            va_mae = float(mx.mean(mx.abs(pred_pct - Yva_pct)))
            print(json.dumps({"cycle": cycle, "step": s + 1, "lr": round(float(opt.learning_rate), 6),
                              "train_mse": round(run / 14, 4), "val_mse": round(va_mse, 4),
                              "val_mae_pct": round(va_mae, 2), "mean_baseline_mae_pct": round(baseline_mae, 2)}))
            run = 0.0

print(json.dumps({"event": "done", "cycles": CYCLES, "seconds": round(time.perf_counter() - t0, 1),
                  "final_val_mae_pct": round(va_mae, 2), "baseline_mae_pct": round(baseline_mae, 2)}))
