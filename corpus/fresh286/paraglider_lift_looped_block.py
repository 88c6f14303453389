"""Paragliding thermal climb-rate model: one residual block unrolled K times.

Depth grows in three stages (K = 1, 3, 6) while the parameter count stays the
same. Each stage starts from the previous stage's checkpoint in a fresh model
object, with its own optimizer and a warm-up from lr 0.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(286)
mx.random.seed(286)

# ---- synthetic launch-site records -------------------------------------
N_TRAIN, N_VAL = 6000, 2000
FEATS = ["sun_wm2", "lapse_c_per_km", "wind_ms", "hour_sin", "hour_cos",
         "ground_albedo", "dewpoint_spread", "cloud_frac"]


def make(n):
    sun = rng.uniform(150, 950, n)
    lapse = rng.normal(7.5, 1.6, n)
    wind = rng.gamma(2.0, 2.2, n)
    hour = rng.uniform(9, 18, n)
    alb = rng.uniform(0.08, 0.4, n)
    spread = rng.uniform(2, 22, n)
    cloud = rng.beta(1.5, 3.0, n)
    heat = sun * (1 - alb) * (1 - 0.7 * cloud) * np.sin(np.pi * (hour - 8) / 12).clip(0.05)
    climb = (0.004 * heat * (1 + 0.18 * (lapse - 7.5)) * np.tanh(spread / 9)
             - 0.11 * np.maximum(wind - 4, 0) ** 1.3)
    climb = climb + rng.normal(0, 0.25, n)
    x = np.stack([sun, lapse, wind, np.sin(2 * np.pi * hour / 24),
                  np.cos(2 * np.pi * hour / 24), alb, spread, cloud], 1)
    return x.astype(np.float32), climb.astype(np.float32)


xtr, ytr = make(N_TRAIN)
xva, yva = make(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ztr, zva = (ytr - ymu) / ysd, (yva - ymu) / ysd
Xtr, Ztr, Xva, Zva = map(mx.array, (xtr, ztr, xva, zva))
print(f"records: train {N_TRAIN}  val {N_VAL}  climb mean {ymu:.2f} m/s  sd {ysd:.2f} m/s")
print(f"predict-the-mean val RMSE: {np.sqrt(np.mean((yva - ymu) ** 2)):.3f} m/s")


class LoopedNet(nn.Module):
    def __init__(self, d_in, width=48, hidden=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)
        self.out = nn.Linear(width, 1)
        self.loops = 1

    def block(self, h):
        return self.down(nn.gelu(self.up(self.norm(h))))

    def __call__(self, x):
        h = self.inp(x)
        step = 1.0 / self.loops
        for _ in range(self.loops):
            h = h + step * self.block(h)
        return self.out(h).squeeze(-1)


def loss_fn(model, x, z):
    return nn.losses.mse_loss(model(x), z)


def val_metrics(model):
    pred = model(Xva)
    mse = nn.losses.mse_loss(pred, Zva).item()
    rmse_ms = math.sqrt(mse) * ysd
    within = (mx.abs(pred - Zva) * ysd < 0.5).mean().item() * 100
    return mse, rmse_ms, within


STAGES = [(1, 5, 3e-3), (3, 5, 2e-3), (6, 5, 1.5e-3)]
BATCH = 128
steps_per_epoch = N_TRAIN // BATCH
ckpt_dir = tempfile.mkdtemp(prefix="thermal_")
ckpt = os.path.join(ckpt_dir, "stage.safetensors")
epoch_global = 0
t0 = time.time()

for s_idx, (loops, n_ep, peak) in enumerate(STAGES, 1):
    model = LoopedNet(len(FEATS))
    if s_idx > 1:
        model.load_weights(ckpt)
    model.loops = loops
    mx.eval(model.parameters())
    n_leaves = len(tree_flatten(model.trainable_parameters()))
    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    warm = 70
    total = n_ep * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    start_mse, start_rmse, _ = val_metrics(model)
    print(f"== stage {s_idx}: block unrolled {loops}x  params {n_par} in {n_leaves} leaves"
          f"  (resumed={s_idx > 1})  val mse at entry {start_mse:.4f}")
    if s_idx == 1:
        _, g = vg(model, Xtr[:BATCH], Ztr[:BATCH])
        zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
        print(f"   first-batch gradient: {len(tree_flatten(g))} leaves, all-zero leaves: {len(zero)}")

    for ep in range(1, n_ep + 1):
        epoch_global += 1
        perm = mx.array(rng.permutation(N_TRAIN)[: steps_per_epoch * BATCH])
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            lr_now = float(sched(opt.step))
            loss, g = vg(model, Xtr[idx], Ztr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if ep == 1 and i == 0:
                first_lr = lr_now
        mse, rmse_ms, within = val_metrics(model)
        extra = f"  first-step lr {first_lr:.1e}" if ep == 1 else ""
        print(f"   ep {epoch_global:2d}  K={loops}  lr {lr_now:.2e}  train_mse {tot / steps_per_epoch:.4f}"
              f"  val_mse {mse:.4f}  val_rmse {rmse_ms:.3f} m/s  within0.5 {within:5.1f}%"
              f"  {time.time() - t0:5.1f}s{extra}")
    model.save_weights(ckpt)
    print(f"   checkpoint written after stage {s_idx}")

shutil.rmtree(ckpt_dir)
mse, rmse_ms, within = val_metrics(model)
print(f"done: final K={model.loops}  val_rmse {rmse_ms:.3f} m/s  (noise sd 0.250)  within0.5 {within:.1f}%"
      f"  total {time.time() - t0:.1f}s")
