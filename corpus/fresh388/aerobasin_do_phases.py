"""Aeration basin: forecast dissolved oxygen (mg/L) one hour ahead from a 12-step sensor history.

Training runs in three phases with a growing share of storm-inflow days in the training mix.
Weights and optimizer state are written after phase II and read back before phase III.
"""
import csv
import math
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

HIST = 12
rng = np.random.default_rng(388)


def make_days(n, storm):
    """n windows of (flow, ammonia, airflow, temperature) history + next-hour DO."""
    t = np.arange(HIST + 1)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    flow = 1.0 + 0.3 * np.sin(2 * np.pi * t / 24 + phase) + 0.05 * rng.normal(size=(n, HIST + 1))
    if storm:
        onset = rng.integers(0, HIST, (n, 1))
        surge = rng.uniform(0.8, 2.0, (n, 1))
        flow = flow + surge * (t >= onset) * np.exp(-(t - onset).clip(0) / 6.0)
    ammonia = 25 + 8 * (flow - 1.0) + rng.normal(0, 1.5, (n, HIST + 1))
    if storm:
        ammonia = ammonia - 6.0 * (flow - 1.0).clip(0)  # dilution
    air = rng.uniform(0.6, 1.4, (n, 1)) + 0.1 * rng.normal(size=(n, HIST + 1))
    temp = rng.uniform(12, 24, (n, 1)) + 0.2 * rng.normal(size=(n, HIST + 1))
    # made-up DO balance: supply from blowers, demand from load, saturation falls with temperature
    sat = 14.6 - 0.39 * temp[:, -1] + 0.007 * temp[:, -1] ** 2
    load = (flow[:, -4:] * ammonia[:, -4:]).mean(1) / 30.0
    do = sat * (1 - np.exp(-1.6 * air[:, -2:].mean(1))) - 2.2 * load - 0.3 * np.tanh(flow[:, -1] - 1.5)
    do = do.clip(0.05) + rng.normal(0, 0.15, n)
    x = np.stack([flow[:, :HIST], ammonia[:, :HIST] / 25, air[:, :HIST], temp[:, :HIST] / 20], -1)
    return x.astype(np.float32), do.astype(np.float32)


def mix(n, storm_share):
    ns = int(round(n * storm_share))
    xa, ya = make_days(n - ns, False)
    if ns == 0:
        return xa, ya
    xb, yb = make_days(ns, True)
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    p = rng.permutation(n)
    return x[p], y[p]


class DOForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 24, kernel_size=3)
        self.c2 = nn.Conv1d(24, 24, kernel_size=3, stride=2)
        self.head = nn.Sequential(nn.Linear(24 * 4 + 4, 48), nn.SiLU(), nn.Linear(48, 1))

    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = nn.silu(self.c2(h))
        h = h.reshape(h.shape[0], -1)
        return self.head(mx.concatenate([h, x[:, -1, :]], axis=1)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


# held-out days: half storm, the harder regime the plant actually sees in spring
xv, yv = mix(2000, 0.5)
xv, yv = mx.array(xv), mx.array(yv)
mean_ref = float(mx.sqrt(mx.mean((yv - yv.mean()) ** 2)))

PHASES = [("I", 0.0, 6, 2e-3), ("II", 0.25, 6, 1.5e-3), ("III", 0.5, 8, 1e-3)]
BATCH = 64
model = DOForecaster()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=PHASES[0][3], alpha=0.95)
step_fn = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp(prefix="aerobasin_")

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["phase", "epoch", "storm_share", "lr", "train_huber", "val_rmse_mgL", "mean_ref_mgL", "secs"])
sys.stdout.flush()

t0 = time.time()
for pi, (name, share, epochs, lr) in enumerate(PHASES):
    print()
    print(f"######## PHASE {name}: storm share {share:.0%}, {epochs} epochs, lr {lr:g} ########")
    if name == "III":
        # resume from what phase II left on disk
        model = DOForecaster()
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt = optim.RMSprop(learning_rate=lr, alpha=0.95)
        opt.init(model.trainable_parameters())
        saved = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
        opt.state = tree_unflatten(list(saved.items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"# resumed from {ckpt_dir} at optimizer step {int(opt.state['step'])}")
    opt.learning_rate = lr
    xt_np, yt_np = mix(4000, share)
    xt, yt = mx.array(xt_np), mx.array(yt_np)
    n = len(yt_np)
    for ep in range(1, epochs + 1):
        perm = np.random.default_rng(1000 * pi + ep).permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            idx = mx.array(perm[i:i + BATCH])
            loss, g = step_fn(model, xt[idx], yt[idx])
            if pi == 0 and ep == 1 and i == 0:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                print(f"# gradient leaves {len(leaves)}, all-zero {zero}")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        pred = model(xv)
        rmse = float(mx.sqrt(mx.mean((pred - yv) ** 2)))
        out.writerow([name, ep, f"{share:.2f}", f"{lr:g}", f"{tot / cnt:.4f}", f"{rmse:.3f}", f"{mean_ref:.3f}",
                      f"{time.time() - t0:.1f}"])
        sys.stdout.flush()
    if name == "II":
        model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"# checkpoint written to {ckpt_dir}")

pred = np.array(model(xv))
print()
print(f"held-out RMSE {np.sqrt(np.mean((pred - np.array(yv)) ** 2)):.3f} mg/L vs predict-the-mean {mean_ref:.3f} mg/L")
print(f"within 0.3 mg/L: {100 * np.mean(np.abs(pred - np.array(yv)) < 0.3):.1f}% of held-out hours")
