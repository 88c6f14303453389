"""Hedge-laying survey: regrowth height (cm) of pleached stems one season after laying.

Tensor-parallel MLP over two local processes (MLX ring backend). Run with plain
python: the script starts its own two ranks through mlx.launch.
"""
import os
import subprocess
import sys
import time

if "MLX_RANK" not in os.environ and os.environ.get("PLEACH_SINGLE") != "1":
    launcher = os.path.join(os.path.dirname(sys.executable), "mlx.launch")
    if os.path.exists(launcher):
        cmd = [launcher, "-n", "2", "--backend", "ring", "--python", sys.executable,
               os.path.abspath(__file__)]
        print("launching 2 ranks:", " ".join(os.path.basename(c) for c in cmd[:6]), flush=True)
        sys.exit(subprocess.call(cmd))
    os.environ["PLEACH_SINGLE"] = "1"

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.layers.distributed import shard_linear

group = mx.distributed.init()
rank, world = group.rank(), group.size()


def say(*a):
    if rank == 0:
        print(*a, flush=True)


# ---- synthetic survey, identical on every rank (tensor parallel: same batch everywhere)
SPECIES = ("hawthorn", "blackthorn", "hazel")
NOISE_CM = 6.0


def make_rows(n, rng):
    diam = rng.uniform(2.0, 12.0, n)             # stem diameter at the pleach, cm
    cut = rng.uniform(0.55, 0.9, n)               # fraction of the stem cut through
    sp = rng.integers(0, 3, n)
    sun = rng.uniform(3.0, 9.0, n)                # sun hours per day on the face
    soil = rng.uniform(0.1, 0.5, n)               # volumetric soil moisture
    months = rng.uniform(4.0, 14.0, n)            # months since laying
    vigour = np.array([1.0, 0.8, 1.25])[sp]
    live = np.clip(1.0 - (cut - 0.5) ** 2 * 4.0, 0.2, 1.0)
    h = (vigour * live * 48.0 * np.tanh(months / 8.0) * (0.6 + 0.08 * sun)
         * (1.0 - (soil - 0.3) ** 2 * 6.0) + 2.2 * diam)
    y = h + rng.normal(0.0, NOISE_CM, n)
    onehot = np.eye(3)[sp]
    x = np.column_stack([diam, cut, sun, soil, months, onehot])
    return x.astype(np.float32), y.astype(np.float32)


rng = np.random.default_rng(2024)
xtr, ytr = make_rows(12000, rng)
xva, yva = make_rows(3000, rng)
mu, sd = xtr[:, :5].mean(0), xtr[:, :5].std(0)
xtr[:, :5] = (xtr[:, :5] - mu) / sd
xva[:, :5] = (xva[:, :5] - mu) / sd
ym, ys = float(ytr.mean()), float(ytr.std())
Xtr, Ytr = mx.array(xtr), mx.array((ytr - ym) / ys)
Xva, Yva = mx.array(xva), mx.array(yva)


class RegrowthNet(nn.Module):
    def __init__(self, d_in=8, width=64, hidden=256):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        # full layers are built from a shared seed, then each rank keeps its slice
        self.up = shard_linear(nn.Linear(width, hidden), "all-to-sharded", group=group)
        self.down = shard_linear(nn.Linear(hidden, width), "sharded-to-all", group=group)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + self.down(nn.gelu(self.up(self.norm(h))))
        return self.out(h).squeeze(-1)


mx.random.seed(11)
model = RegrowthNet()
mx.eval(model.parameters())

STEPS, WARM, BATCH, PEAK = 800, 100, 128, 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 3e-5)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


def val_rmse_cm():
    pred = model(Xva) * ys + ym
    return mx.sqrt(mx.mean((pred - Yva) ** 2)).item()


def shard_norms():
    n = mx.sqrt(mx.sum(model.up.weight ** 2)).reshape(1)
    return [round(v, 2) for v in mx.distributed.all_gather(n, group=group).tolist()]


def replica_gap():
    # largest difference of a replicated weight across ranks (0 when in lock-step)
    w = model.out.weight
    avg = mx.distributed.all_sum(w, group=group) / world
    return mx.distributed.all_sum(mx.max(mx.abs(w - avg)).reshape(1), group=group).item()


baseline = float(np.sqrt(np.mean((yva - ym) ** 2)))
say(f"world={world} backend={'ring' if world > 1 else 'none'} rows={len(ytr)}/{len(yva)} "
    f"up-shard={tuple(model.up.weight.shape)} down-shard={tuple(model.down.weight.shape)}")
say(f"reference: predict-the-mean RMSE {baseline:.2f} cm, measurement noise {NOISE_CM:.1f} cm")
say("| step | lr | train mse (std units) | val rmse cm | noise cm | mean-guess cm | |W_up| per rank | secs |")
say("|---:|---:|---:|---:|---:|---:|---|---:|")
say(f"| 0 | 0 | - | {val_rmse_cm():.2f} | {NOISE_CM:.1f} | {baseline:.2f} | {shard_norms()} | 0.0 |")

order_rng = np.random.default_rng(7)  # same draw on both ranks
t0, run = time.perf_counter(), []
for step in range(1, STEPS + 1):
    idx = mx.array(order_rng.integers(0, len(ytr), BATCH))
    lr_now = float(opt.learning_rate)
    loss, grads = grad_fn(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step == 1:
        say(f"first update ran at lr {lr_now:.1f}; loss {run[0]:.3f}")
    if step % 100 == 0:
        v, norms = val_rmse_cm(), shard_norms()
        say(f"| {step} | {lr_now:.2e} | {np.mean(run[-100:]):.4f} | {v:.2f} | {NOISE_CM:.1f} | "
            f"{baseline:.2f} | {norms} | {time.perf_counter() - t0:.1f} |")

final = val_rmse_cm()
gap = replica_gap()
say(f"done: val RMSE {final:.2f} cm against a {NOISE_CM:.1f} cm noise floor "
    f"({100 * (1 - final / baseline):.1f}% below the mean guess); replicated-weight gap {gap:.1e}")
