"""Overnight snowcat grooming: litres of diesel burned per run.

Two-stage curriculum: first the gentle runs only, then the full fleet log
including steep winch runs (bigger, noisier fuel burn).  Each stage builds a
fresh Adamax whose learning rate starts at exactly 0 and warms up, so the
step counter restarts per stage.  Progress goes out as JSON lines.
"""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(217)


def groom_log(n, steep_share):
    length_km = rng.uniform(0.4, 3.5, n)
    slope_deg = np.where(rng.random(n) < steep_share, rng.uniform(25, 38, n), rng.uniform(5, 20, n))
    new_snow_cm = rng.gamma(2.0, 6.0, n)
    air_temp_c = rng.normal(-8, 5, n)
    winch = (slope_deg > 24).astype(np.float64)
    passes = rng.integers(1, 4, n).astype(np.float64)
    litres = (length_km * passes * (4.0 + 0.09 * new_snow_cm + 0.004 * slope_deg ** 2)
              + 6.0 * winch * length_km - 0.05 * air_temp_c * length_km)
    litres = litres + rng.normal(0, 0.8 + 2.0 * winch, n)
    X = np.stack([length_km, slope_deg / 10, new_snow_cm / 10, air_temp_c / 10, winch, passes], 1)
    return X.astype(np.float32), litres.astype(np.float32)


class FuelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


model = FuelNet()
grad_fn = nn.value_and_grad(model, huber)

x_chk, y_chk = groom_log(64, 0.3)
_, g0 = grad_fn(model, mx.array(x_chk), mx.array(y_chk))
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "all_zero": zero}))

Xv, yv = groom_log(1500, 0.3)
Xv, yv = mx.array(Xv), mx.array(yv)
baseline_mae = float(mx.abs(yv - yv.mean()).mean().item())

stages = [("gentle_only", 0.0, 350), ("full_fleet", 0.3, 450)]
for stage, steep, steps in stages:
    Xs, ys = groom_log(5000, steep)
    warm = optim.linear_schedule(0.0, 4e-3, 60)
    decay = optim.cosine_decay(4e-3, steps - 60, end=2e-4)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [60]))
    for step in range(steps):
        idx = rng.integers(0, len(ys), 128)
        loss, grads = grad_fn(model, mx.array(Xs[idx]), mx.array(ys[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            val_mae = mx.abs(model(Xv) - yv).mean().item()
            print(json.dumps({"stage": stage, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                              "huber": round(loss.item(), 4), "val_mae_l": round(val_mae, 3),
                              "mean_predictor_mae_l": round(baseline_mae, 3)}))

final = mx.abs(model(Xv) - yv).mean().item()
print(json.dumps({"event": "done", "val_mae_l": round(final, 3), "mean_predictor_mae_l": round(baseline_mae, 3),
                  "skill_pct": round(100 * (1 - final / baseline_mae), 1)}))
