"""Quarry bench survey: fit a neural height field of an open-pit quarry.

A multi-resolution dense feature grid (4 levels, bilinear lookup) feeds a small
MLP decoder. The finer levels are switched on in stages (coarse-to-fine), the
learning rate ramps up from 0, and the run is checkpointed halfway and resumed
from disk into a fresh model + optimizer, as a long survey job would be.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
rng = np.random.default_rng(7)

# ---------------------------------------------------------------- terrain
N = 96
ys, xs = np.meshgrid(np.linspace(0, 1, N), np.linspace(0, 1, N), indexing="ij")


def quarry_height(x, y):
    cx, cy = 0.52, 0.47
    r = np.sqrt(((x - cx) / 1.15) ** 2 + (y - cy) ** 2)
    benches = sum(1.0 / (1.0 + np.exp(-(r - rk) / 0.012)) for rk in (0.10, 0.17, 0.24, 0.31, 0.38))
    ramp = 0.35 * np.clip(1.0 - np.abs(np.arctan2(y - cy, x - cx) - 0.6) / 0.25, 0, 1) * (r < 0.38)
    hills = 0.25 * np.sin(7.0 * x + 1.3) * np.cos(5.0 * y) + 0.12 * np.sin(19.0 * x * y)
    return benches + ramp + hills * (r > 0.36)


H = quarry_height(xs, ys)
H = (H - H.min()) / (H.max() - H.min())
coords_all = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
h_all = H.ravel().astype(np.float32)[:, None]

perm = rng.permutation(N * N)
n_fit = int(0.7 * N * N)
fit_idx, hold_idx = perm[:n_fit], perm[n_fit:]
X_fit, Y_fit = mx.array(coords_all[fit_idx]), mx.array(h_all[fit_idx])
X_hold, Y_hold = mx.array(coords_all[hold_idx]), mx.array(h_all[hold_idx])

# baselines on the held-out survey points
mean_base = float(np.mean((h_all[fit_idx].mean() - h_all[hold_idx]) ** 2))
B = 12  # block-average map from the fitted points, looked up per held-out point
blk = (np.minimum((coords_all * B).astype(int), B - 1))
blk_id = blk[:, 0] * B + blk[:, 1]
sums = np.bincount(blk_id[fit_idx], weights=h_all[fit_idx, 0], minlength=B * B)
cnts = np.bincount(blk_id[fit_idx], minlength=B * B)
block_map = sums / np.maximum(cnts, 1)
block_base = float(np.mean((block_map[blk_id[hold_idx]] - h_all[hold_idx, 0]) ** 2))


def psnr(mse):
    return -10.0 * math.log10(max(mse, 1e-12))


print(f"survey points: fit {n_fit}, held out {N * N - n_fit}")
print(f"baseline PSNR  mean-height {psnr(mean_base):6.2f} dB   block-average {psnr(block_base):6.2f} dB")


# ---------------------------------------------------------------- model
class GridField(nn.Module):
    def __init__(self, resolutions=(6, 12, 24, 48), feat=4, hidden=48):
        super().__init__()
        self.resolutions = list(resolutions)
        self.grids = [mx.random.uniform(-1e-3, 1e-3, ((r + 1) * (r + 1), feat)) for r in resolutions]
        self.dec1 = nn.Linear(feat * len(resolutions), hidden)
        self.dec2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self._active = 1

    def set_active(self, k):
        self._active = k

    def lookup(self, grid, res, p):
        q = p * res
        q0 = mx.clip(mx.floor(q), 0, res - 1)
        f = q - q0
        i0 = q0.astype(mx.int32)
        ix, iy = i0[:, 0], i0[:, 1]
        fx, fy = f[:, 0:1], f[:, 1:2]
        w = res + 1
        c00 = grid[ix * w + iy]
        c10 = grid[(ix + 1) * w + iy]
        c01 = grid[ix * w + iy + 1]
        c11 = grid[(ix + 1) * w + iy + 1]
        return (c00 * (1 - fx) * (1 - fy) + c10 * fx * (1 - fy)
                + c01 * (1 - fx) * fy + c11 * fx * fy)

    def __call__(self, p):
        feats = []
        for lvl, (g, r) in enumerate(zip(self.grids, self.resolutions)):
            v = self.lookup(g, r, p)
            feats.append(v if lvl < self._active else mx.zeros_like(v))
        h = mx.concatenate(feats, axis=1)
        h = nn.relu(self.dec1(h))
        h = nn.relu(self.dec2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


TOTAL, WARM, BATCH = 1600, 120, 2048
STAGES = {0: 1, 300: 2, 600: 3, 900: 4}   # step -> number of active levels
HALF = TOTAL // 2


def make_run():
    model = GridField()
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, WARM), optim.cosine_decay(2e-2, TOTAL - WARM, 5e-4)], [WARM])
    opt = optim.Adam(learning_rate=lr)
    opt.init(model.trainable_parameters())
    return model, opt


def active_for(step):
    return max(v for s, v in STAGES.items() if step >= s)


def train_span(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        model.set_active(active_for(step))
        idx = mx.array(rng.integers(0, n_fit, BATCH))
        loss, grads = step_fn(model, X_fit[idx], Y_fit[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step in STAGES and step > 0:
            print(f"  step {step:5d}  stage -> {active_for(step)} grid levels")
        if step % 100 == 0 or step == stop - 1:
            hold = float(loss_fn(model, X_hold, Y_hold))
            print(f"step {step:5d}  lr {opt.learning_rate.item():.5f}  batch mse {loss.item():.2e}  "
                  f"held-out PSNR {psnr(hold):6.2f} dB")


t0 = time.time()
model, opt = make_run()
train_span(model, opt, 0, HALF)

ckpt = tempfile.mkdtemp(dir=None)
model.save_weights(os.path.join(ckpt, "field.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"), dict(tree_flatten(opt.state)))
hold_before = float(loss_fn(model, X_hold, Y_hold))
print(f"checkpoint written at step {HALF} ({len(os.listdir(ckpt))} files), held-out PSNR {psnr(hold_before):.2f} dB")
del model, opt

model, opt = make_run()
model.load_weights(os.path.join(ckpt, "field.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adam.safetensors")).items()))
model.set_active(active_for(HALF - 1))
hold_after = float(loss_fn(model, X_hold, Y_hold))
print(f"resumed from checkpoint: optimizer step {int(opt.state['step'])}, held-out PSNR {psnr(hold_after):.2f} dB")
train_span(model, opt, HALF, TOTAL)

model.set_active(4)
final = float(loss_fn(model, X_hold, Y_hold))
print(f"final held-out PSNR {psnr(final):.2f} dB  (mean-height {psnr(mean_base):.2f}, "
      f"block-average {psnr(block_base):.2f})  time {time.time() - t0:.1f}s")
