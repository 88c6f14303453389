"""Toboggan park: predict the run time (s) of a timed hill from start and sled measurements.

Stage A trains on runs over wet, slushy snow only; stage B adds the icy,
fast days, whose times follow a somewhat different law, so the loss jumps
when stage B opens. Each stage warms its learning rate up from 0 and keeps the
best validation checkpoint (early stopping with restore).
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)


def make_runs(n, cold):
    push = rng.normal(5.3, 0.25, n)          # start speed after 50 m, m/s
    mass = rng.normal(630, 12, n)            # toboggan + riders, kg
    snow_c = rng.uniform(-12, -6, n) if cold else rng.uniform(-5, -1, n)
    bends = rng.integers(14, 20, n).astype(np.float64)
    runner = rng.normal(0, 1, n)             # base wax score
    wind = rng.normal(0, 1.5, n)             # head wind, m/s
    t = (54.0 - 3.1 * (push - 5.3) - 0.012 * (mass - 630) + 0.45 * (bends - 17)
         + 0.08 * wind - 0.15 * runner)
    if cold:
        t += -1.2 + 0.09 * snow_c + 0.05 * (bends - 17) ** 2 - 0.6 * (push - 5.3) ** 2
    else:
        t += 0.10 * (snow_c + 3)
    t += rng.normal(0, 0.12, n)
    X = np.stack([push, mass, snow_c, bends, runner, wind], 1)
    return X, t


Xw, tw = make_runs(900, cold=False)
Xc, tc = make_runs(900, cold=True)
mu, sd = np.concatenate([Xw, Xc]).mean(0), np.concatenate([Xw, Xc]).std(0)
t_mu, t_sd = tw.mean(), tw.std()


def prep(X, t):
    return mx.array(((X - mu) / sd).astype(np.float32)), mx.array(((t - t_mu) / t_sd).astype(np.float32))


split = {
    "A": (prep(Xw[:750], tw[:750]), prep(Xw[750:], tw[750:])),
    "B": (prep(np.concatenate([Xw[:750], Xc[:750]]), np.concatenate([tw[:750], tc[:750]])),
          prep(np.concatenate([Xw[750:], Xc[750:]]), np.concatenate([tw[750:], tc[750:]]))),
}


class SplitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


mx.random.seed(11)
model = SplitNet()
loss_grad = nn.value_and_grad(model, mse)

# every trainable tensor must receive gradient
(xa, ya), _ = split["A"]
_, g0 = loss_grad(model, xa[:64], ya[:64])
assert all(float(mx.abs(g).sum()) > 0 for _, g in tree_flatten(g0)), "dead parameter"

log = lambda **kw: print(json.dumps(kw), flush=True)

for stage, epochs, peak in (("A", 60, 3e-4), ("B", 80, 2e-4)):
    (xt, yt), (xv, yv) = split[stage]
    steps_per_epoch = math.ceil(xt.shape[0] / 64)
    warm = 5 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, epochs * steps_per_epoch - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    baseline = float(mx.mean((yv - yt.mean()) ** 2)) * t_sd ** 2   # predict-the-mean, s^2
    best, best_params, bad, patience = float("inf"), None, 0, 12
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(xt.shape[0]))
        tot = 0.0
        for i in range(0, xt.shape[0], 64):
            idx = perm[i:i + 64]
            loss, grads = loss_grad(model, xt[idx], yt[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        pred = model(xv)
        val_mse = float(mx.mean((pred - yv) ** 2)) * t_sd ** 2
        val_mae = float(mx.mean(mx.abs(pred - yv))) * t_sd
        if val_mse < best - 1e-5:
            best, bad = val_mse, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
        if epoch == 1 or epoch % 5 == 0:
            log(stage=stage, epoch=epoch, lr=round(float(opt.learning_rate), 7),
                train_mse_s2=round(tot / xt.shape[0] * t_sd ** 2, 4),
                val_mse_s2=round(val_mse, 4), val_mae_s=round(val_mae, 3),
                mean_predictor_mse_s2=round(baseline, 4), bad_epochs=bad)
        if bad >= patience:
            log(stage=stage, event="early_stop", epoch=epoch, best_val_mse_s2=round(best, 4))
            break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = float(mx.mean((model(xv) - yv) ** 2)) * t_sd ** 2
    log(stage=stage, event="restored_best", val_mse_s2=round(restored, 4),
        diff_vs_best=round(restored - best, 6), explained_pct=round(100 * (1 - restored / baseline), 1))
