"""Fit a coordinate network to a synthetic terrain height map, coarse to fine.

The map is fitted in three sessions.  Session k trains on a Gaussian-blurred
copy of the map (sigma 3 px, then 1.5 px, then the raw map).  At the end of a
session the weights are written to a checkpoint; the next session builds a new
network, loads that checkpoint and continues with a fresh optimizer.

The Fourier-feature input layer (a fixed Gaussian projection of the (x, y)
coordinates) is frozen on purpose: only the MLP behind it trains.

Reported per session: the MSE against the session's own target (it jumps up
when a sharper target arrives) and the PSNR in dB of the network against the
clean, full-detail map (higher is better).  The surveyed heights the network
sees carry 0.02 of measurement noise, so the PSNR cannot climb without bound.
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

H = W = 40
N_FREQ = 48
SIGMA_FREQ = 6.0
SESSIONS = [(3.0, 400), (1.5, 400), (0.0, 500)]   # (blur sigma px, steps)
REPORT_EVERY = 100


def make_relief(seed=3):
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, H), np.linspace(0, 1, W), indexing="ij")
    z = np.zeros((H, W))
    for _ in range(9):                       # hills
        cx, cy = rng.uniform(0.05, 0.95, 2)
        s = rng.uniform(0.05, 0.18)
        a = rng.uniform(0.3, 1.0)
        z += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    z += 0.35 * np.exp(-((yy - 0.6 * xx - 0.2) ** 2) / 0.002)   # a sharp ridge
    z += 0.08 * np.sin(18 * xx) * np.cos(14 * yy)              # fine texture
    z = (z - z.min()) / (z.max() - z.min())
    return z.astype(np.float32)


def gaussian_blur(img, sigma):
    if sigma <= 0:
        return img.copy()
    r = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(img, r, mode="reflect")
    rows = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, pad)
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, rows)
    return out.astype(np.float32)


class FourierFeatures(nn.Module):
    def __init__(self, n_freq, scale):
        super().__init__()
        self.proj = nn.Linear(2, n_freq, bias=False)
        self.proj.weight = mx.random.normal((n_freq, 2), key=mx.random.key(11)) * scale

    def __call__(self, xy):
        z = 2 * math.pi * self.proj(xy)
        return mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)


class ReliefNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.ff = FourierFeatures(N_FREQ, SIGMA_FREQ)
        self.body = nn.Sequential(
            nn.Linear(2 * N_FREQ, 96), nn.SiLU(),
            nn.Linear(96, 96), nn.SiLU(),
            nn.Linear(96, 1),
        )
        self.ff.freeze()

    def __call__(self, xy):
        return self.body(self.ff(xy)).squeeze(-1)


def mse(model, xy, z):
    return mx.mean((model(xy) - z) ** 2)


def psnr(err):
    return 10.0 * math.log10(1.0 / max(err, 1e-12))   # heights are in [0, 1]


def main():
    mx.random.seed(0)
    relief = make_relief()
    survey = relief + np.random.default_rng(5).normal(0, 0.02, relief.shape).astype(np.float32)
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    coords = mx.array(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))
    full = mx.array(relief.ravel())
    n_pix = H * W
    rng = np.random.default_rng(0)

    ckpt_dir = tempfile.mkdtemp(prefix="relief_ckpt_")
    ckpt = None
    t0 = time.time()
    print(f"relief {H}x{W}, {n_pix} pixels, height range [0, 1]")
    print(f"predict-the-mean PSNR: {psnr(float(mx.mean((full - mx.mean(full)) ** 2))):.2f} dB")

    for k, (sigma, steps) in enumerate(SESSIONS, start=1):
        target = mx.array(gaussian_blur(survey, sigma).ravel())
        model = ReliefNet()
        if ckpt is not None:
            model.load_weights(ckpt)
        frozen_before = np.array(model.ff.proj.weight)
        mx.eval(model.parameters())
        opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, steps, 3e-4),
                         bias_correction=True)
        step_fn = nn.value_and_grad(model, mse)

        n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
        print(f"\n== session {k}: target blur sigma={sigma} px, {steps} steps, "
              f"{n_train}/{n_all} params trainable, "
              f"{'resumed from ' + os.path.basename(ckpt) if ckpt else 'fresh start'}")
        start_fit = float(mse(model, coords, target))
        start_psnr = psnr(float(mse(model, coords, full)))
        print(f"   start         fit_mse {start_fit:.3e}   psnr_clean {start_psnr:6.2f} dB")

        for step in range(1, steps + 1):
            idx = mx.array(rng.choice(n_pix, 512, replace=False))
            loss, grads = step_fn(model, coords[idx], target[idx])
            if k == 1 and step == 1:
                flat = tree_flatten(grads)
                nz = [name for name, g in flat if float(mx.abs(g).max()) > 0]
                print(f"   gradient check: {len(nz)}/{len(flat)} trainable leaves non-zero")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step % REPORT_EVERY == 0:
                fit = float(mse(model, coords, target))
                pf = psnr(float(mse(model, coords, full)))
                print(f"   step {step:4d}     fit_mse {fit:.3e}   psnr_clean {pf:6.2f} dB"
                      f"   lr {float(opt.learning_rate):.2e}")

        drift = float(np.abs(np.array(model.ff.proj.weight) - frozen_before).max())
        ckpt = os.path.join(ckpt_dir, f"session{k}.safetensors")
        model.save_weights(ckpt)
        print(f"   saved {os.path.basename(ckpt)}; frozen projection drift {drift:.1e}")

    print(f"\nsurvey noise alone: {psnr(0.02 ** 2):.2f} dB\nfinal PSNR vs clean map: {psnr(float(mse(model, coords, full))):.2f} dB "
          f"({time.time() - t0:.1f}s)")
    shutil.rmtree(ckpt_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
