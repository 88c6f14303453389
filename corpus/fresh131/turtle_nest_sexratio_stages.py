"""Sea-turtle nesting beach: predict the share of female hatchlings (%) in a nest.

Loggerhead sex is set by incubation temperature (pivotal ~29.2 C). We fit a small
MLP to synthetic nest records. Training runs in two stages:
  stage "calm"  : only nests from the two well-instrumented beaches (clean labels)
  stage "all"   : every beach, including the storm-washed one with noisy counts
The step counter and the LR warm-up (from exactly 0) restart at each stage.
Output is one JSON object per line.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(20240611)
mx.random.seed(3)


def make_nests(n, beach):
    sand = rng.normal(29.0, 1.4, n)          # mean sand temp at clutch depth, C
    swing = rng.uniform(0.5, 4.0, n)         # diurnal swing, C
    depth = rng.uniform(35, 70, n)           # clutch depth, cm
    moist = rng.uniform(0.02, 0.20, n)       # volumetric moisture
    shade = rng.uniform(0, 60, n)            # % shade from dune vegetation
    clutch = rng.integers(70, 130, n).astype(np.float64)
    # effective temperature during the thermosensitive period
    t_eff = (sand + 0.18 * swing - 0.03 * (depth - 50) - 9.0 * (moist - 0.1)
             - 0.015 * shade + 0.004 * (clutch - 100))
    female = 100.0 / (1.0 + np.exp(-(t_eff - 29.2) / 0.45))
    noise = 2.0 if beach != 2 else 9.0       # beach 2: storm-washed, counts are rough
    y = np.clip(female + rng.normal(0, noise, n), 0, 100)
    x = np.stack([sand, swing, depth, moist, shade, clutch], 1)
    return x, y


parts = [make_nests(n, b) for b, n in [(0, 1400), (1, 1400), (2, 1600)]]
beach_id = np.concatenate([np.full(len(p[1]), b) for b, p in enumerate(parts)])
X = np.concatenate([p[0] for p in parts])
Y = np.concatenate([p[1] for p in parts])
perm = rng.permutation(len(Y))
X, Y, beach_id = X[perm], Y[perm], beach_id[perm]
n_val = 800
mu, sd = X[n_val:].mean(0), X[n_val:].std(0)
Xs = ((X - mu) / sd).astype(np.float32)
Xv, Yv = mx.array(Xs[:n_val]), mx.array(Y[:n_val].astype(np.float32))
Xt, Yt, Bt = Xs[n_val:], Y[n_val:].astype(np.float32), beach_id[n_val:]

baseline_mae = float(np.mean(np.abs(Y[:n_val] - Yt.mean())))


class NestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        # predict in logit space, report in percent
        return 100.0 * mx.sigmoid(self.out(h).squeeze(-1))


model = NestNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean(mx.square(m(x) - y))


loss_and_grad = nn.value_and_grad(model, loss_fn)

stages = [("calm", Bt != 2, 500, 3e-3), ("all", np.ones_like(Bt, bool), 700, 1.5e-3)]
batch = 128
for stage_name, mask, steps, peak in stages:
    xs, ys = Xt[mask], Yt[mask]
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.Adamax(learning_rate=sched)
    run = []
    for step in range(steps):
        idx = rng.integers(0, len(ys), batch)
        loss, grads = loss_and_grad(model, mx.array(xs[idx]), mx.array(ys[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            pred = model(Xv)
            mae = mx.mean(mx.abs(pred - Yv)).item()
            rmse = math.sqrt(mx.mean(mx.square(pred - Yv)).item())
            print(json.dumps({
                "stage": stage_name, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                "train_mse_pct2": round(float(np.mean(run)), 2),
                "val_mae_pct": round(mae, 2), "val_rmse_pct": round(rmse, 2),
                "mean_guess_mae_pct": round(baseline_mae, 2),
            }))
            run = []

pred = model(Xv)
final = {"summary": True, "val_mae_pct": round(mx.mean(mx.abs(pred - Yv)).item(), 2),
         "mean_guess_mae_pct": round(baseline_mae, 2),
         "pct_female_pred_mean": round(mx.mean(pred).item(), 1),
         "pct_female_true_mean": round(mx.mean(Yv).item(), 1)}
print(json.dumps(final))
