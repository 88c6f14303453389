"""Cheese-cave ripening: predict moisture loss (% of green weight) of a wheel
after ripening from cave conditions. First a learning-rate range test on a
throw-away copy of the model, then the real run from fresh weights with an lr
picked from the test."""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s :: %(message)s")
log = logging.getLogger("cave")

rng = np.random.default_rng(7)


def make_wheels(n):
    days = rng.uniform(20, 240, n)          # ripening days
    temp = rng.uniform(8, 16, n)            # cave temperature C
    rh = rng.uniform(75, 98, n)             # relative humidity %
    mass = rng.uniform(0.5, 12.0, n)        # green weight kg
    turns = rng.integers(1, 8, n)           # turnings per week
    rind = rng.integers(0, 3, n)            # 0 washed, 1 natural, 2 waxed
    k = 0.012 * np.exp(0.07 * (temp - 12)) * (100 - rh) / 12 / mass ** (1 / 3)
    k *= np.array([0.9, 1.0, 0.25])[rind] * (1 + 0.02 * turns)
    loss = 38 * (1 - np.exp(-k * days)) + rng.normal(0, 0.6, n)
    feats = np.stack([days, temp, rh, np.log(mass), turns,
                      rind == 0, rind == 1, rind == 2], 1).astype(np.float32)
    return feats, loss.astype(np.float32)


Xtr, ytr = make_wheels(9000)
Xva, yva = make_wheels(1500)
mu, sd = Xtr[:, :5].mean(0), Xtr[:, :5].std(0)
Xtr[:, :5] = (Xtr[:, :5] - mu) / sd
Xva[:, :5] = (Xva[:, :5] - mu) / sd
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ttr, yva_mx = mx.array((ytr - ym) / ys), mx.array(yva)


class RipeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = nn.gelu(self.hid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def valid_metrics(model):
    pred = model(Xva) * ys + ym
    err = pred - yva_mx
    return math.sqrt(mx.mean(err * err).item()), mx.mean(mx.abs(err)).item()


BATCH = 64

# ---------------- phase 1: learning-rate range test (throw-away weights) -------------
mx.random.seed(100)
probe = RipeNet()
lr_lo, lr_hi, n_sweep = 1e-5, 3.0, 240
gamma = (lr_hi / lr_lo) ** (1 / (n_sweep - 1))
sweep_opt = optim.Adam(learning_rate=lr_lo)
vg = nn.value_and_grad(probe, loss_fn)
smooth, best_smooth, hist = None, float("inf"), []
log.info("range test: %d steps, lr %.0e -> %.1f (geometric), batch %d", n_sweep, lr_lo, lr_hi, BATCH)
for i in range(n_sweep):
    lr = lr_lo * gamma ** i
    sweep_opt.learning_rate = lr
    idx = mx.array(rng.integers(0, Xtr.shape[0], BATCH))
    loss, g = vg(probe, Xtr[idx], ttr[idx])
    sweep_opt.update(probe, g)
    mx.eval(probe.parameters(), sweep_opt.state, loss)
    l = loss.item()
    smooth = l if smooth is None else 0.9 * smooth + 0.1 * l
    corr = smooth / (1 - 0.9 ** (i + 1))
    hist.append((lr, corr))
    best_smooth = min(best_smooth, corr)
    if i % 30 == 0 or i == n_sweep - 1:
        log.info("  sweep step %3d  lr=%.2e  smoothed_mse=%.4f", i, lr, corr)
    if not math.isfinite(l) or corr > 8 * best_smooth:
        log.info("  sweep stopped at step %d: smoothed loss %.3g > 8x best (%.3g)", i, corr, best_smooth)
        break
lrs = np.array([h[0] for h in hist])
ls = np.array([h[1] for h in hist])
lr_at_min = lrs[int(np.argmin(ls))]
peak_lr = float(lr_at_min / 10)
log.info("range test done: minimum smoothed loss at lr=%.2e, picking peak lr %.2e", lr_at_min, peak_lr)
del probe, sweep_opt

# ---------------- phase 2: real training from fresh weights ----------------
mx.random.seed(0)
model = RipeNet()
EPOCHS = 14
steps_per_epoch = Xtr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(peak_lr / 25, peak_lr, warm),
     optim.cosine_decay(peak_lr, total - warm, peak_lr / 100)], [warm])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

rmse0, mae0 = valid_metrics(model)
base_rmse = float(np.sqrt(np.mean((yva - ym) ** 2)))
log.info("fresh model: valid RMSE %.2f pct-points (predict-the-mean %.2f)", rmse0, base_rmse)

t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run, nb = 0.0, 0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, g = vg(model, Xtr[idx], ttr[idx])
        if step == 0:
            leaves = tree_flatten(g)
            nz = sum(1 for _, a in leaves if mx.any(a != 0).item())
            log.info("first-step gradient audit: %d/%d leaves non-zero", nz, len(leaves))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item(); nb += 1; step += 1
    rmse, mae = valid_metrics(model)
    log.info("epoch %2d/%d  train_mse(std)=%.4f  valid_rmse=%.3f  valid_mae=%.3f  lr=%.2e  %.1fs",
             ep, EPOCHS, run / nb, rmse, mae, float(opt.learning_rate), time.time() - t0)

rmse, mae = valid_metrics(model)
log.info("finished: valid RMSE %.3f vs baseline %.3f (noise sd 0.6)", rmse, base_rmse)
