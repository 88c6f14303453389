# Hay-bale storage safety: predict the 7-day core temperature rise (degC) of a
# stacked bale from field readings, so wet bales can be pulled before they heat.
# Curriculum: dry-season bales first, then the harder mixed set with wet bales.
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2026)
mx.random.seed(2026)


def bales(n, wet_share):
    moist = np.where(rng.random(n) < wet_share,
                     rng.uniform(20, 32, n), rng.uniform(10, 19, n))     # % moisture
    dens = rng.uniform(140, 220, n)                                         # kg/m3
    humid = rng.uniform(40, 95, n)                                          # ambient RH %
    days = rng.integers(0, 5, n).astype(np.float64)                         # days in swath
    acid = rng.uniform(0, 4, n)                                             # propionic l/t
    excess = np.clip(moist - 16.0, 0, None)
    rise = (0.9 * excess ** 1.4 * (dens / 180.0) * np.exp(-0.35 * acid)
            + 0.04 * (humid - 40) + 0.5 * days)
    rise = rise + rng.normal(0, 0.4 + 0.05 * excess, n)
    x = np.stack([(moist - 18) / 6, (dens - 180) / 25, (humid - 65) / 15,
                  (days - 2) / 1.5, (acid - 2) / 1.2], axis=1)
    return mx.array(x.astype(np.float32)), mx.array(rise.astype(np.float32))


class HeatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = HeatNet()
mx.eval(model.parameters())
stages = [("dry_season", 0.05, 12), ("mixed_wet", 0.45, 18)]
total_steps = sum(ep for _, _, ep in stages) * 16
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
    [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
grad_fn = nn.value_and_grad(model, mse)

xv_all, yv_all = bales(800, 0.45)
batch = 64
gstep = 0
for stage, wet, epochs in stages:
    xs, ys = bales(1024, wet)
    base_mae = mx.mean(mx.abs(yv_all - mx.mean(ys))).item()
    for ep in range(epochs):
        perm = mx.array(rng.permutation(xs.shape[0]))
        run = 0.0
        for i in range(0, xs.shape[0], batch):
            idx = perm[i:i + batch]
            lr_now = float(sched(mx.array(gstep)))
            loss, grads = grad_fn(model, xs[idx], ys[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            gstep += 1
        pred = model(xv_all)
        mae = mx.mean(mx.abs(pred - yv_all)).item()
        rec = {"stage": stage, "epoch": ep + 1, "step": gstep, "lr": round(lr_now, 6),
               "train_mse": round(run / math.ceil(xs.shape[0] / batch), 4),
               "val_mae_degC": round(mae, 3), "mean_guess_mae_degC": round(base_mae, 3)}
        print(json.dumps(rec))
print(json.dumps({"done": True, "steps": gstep, "final_val_mae_degC": round(mae, 3)}))
