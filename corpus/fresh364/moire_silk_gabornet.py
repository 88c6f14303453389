"""Fit a woven moire-silk swatch with a Gabor multiplicative filter network.

The swatch is a procedural 64x64 pattern (two slightly rotated gratings that
beat against each other, plus a soft radial sheen).  Training uses the pixels
on even rows/cols of a checkerboard split; the other half is held out.
The run is split into two sessions with a checkpoint in between.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SIDE = 64
HIDDEN = 64
N_FILTERS = 4
STEPS = 360
PAUSE_AT = 180
PEAK_LR = 5e-3
WARMUP = 40

rng = np.random.default_rng(7)


def swatch(side):
    t = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    a1, a2 = 0.20, 0.28
    g1 = np.sin(22.0 * (np.cos(a1) * xx + np.sin(a1) * yy))
    g2 = np.sin(22.0 * (np.cos(a2) * xx + np.sin(a2) * yy))
    sheen = np.exp(-2.5 * ((xx - 0.3) ** 2 + (yy + 0.2) ** 2))
    r = 0.45 + 0.22 * g1 + 0.18 * sheen
    g = 0.35 + 0.20 * g2 + 0.25 * sheen
    b = 0.55 + 0.12 * g1 * g2 - 0.10 * sheen
    img = np.stack([r, g, b], axis=-1)
    img += 0.01 * rng.standard_normal(img.shape).astype(np.float32)
    coords = np.stack([xx, yy], axis=-1)
    return coords.reshape(-1, 2), np.clip(img, 0, 1).reshape(-1, 3)


class GaborFilter(nn.Module):
    def __init__(self, hidden, input_scale, alpha, beta=1.0):
        super().__init__()
        self.linear = nn.Linear(2, hidden)
        gamma = rng.gamma(alpha, 1.0 / beta, size=(hidden,)).astype(np.float32)
        self.gamma = mx.array(gamma)
        self.mu = mx.array(rng.uniform(-1, 1, size=(hidden, 2)).astype(np.float32))
        self.linear.weight = self.linear.weight * input_scale * mx.sqrt(self.gamma)[:, None]
        self.linear.bias = mx.array(rng.uniform(-math.pi, math.pi, size=(hidden,)).astype(np.float32))

    def __call__(self, x):
        d2 = mx.sum(mx.square(x[:, None, :] - self.mu[None]), axis=-1)
        env = mx.exp(-0.5 * d2 * self.gamma)
        return env * mx.sin(self.linear(x))


class GaborNet(nn.Module):
    def __init__(self, hidden=HIDDEN, n_filters=N_FILTERS, out_dim=3, input_scale=48.0):
        super().__init__()
        per = input_scale / math.sqrt(n_filters)
        self.filters = [GaborFilter(hidden, per, alpha=6.0 / n_filters) for _ in range(n_filters)]
        self.mix = [nn.Linear(hidden, hidden) for _ in range(n_filters - 1)]
        bound = math.sqrt(1.0 / hidden)
        for lin in self.mix:
            lin.weight = mx.random.uniform(-bound, bound, lin.weight.shape)
        self.out = nn.Linear(hidden, out_dim)
        self.freeze(keys=["gamma", "mu"], strict=False)

    def __call__(self, x):
        z = self.filters[0](x)
        for lin, filt in zip(self.mix, self.filters[1:]):
            z = lin(z) * filt(x)
        return self.out(z) + 0.5


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    frac = (step - WARMUP) / (STEPS - WARMUP)
    return 1e-4 + 0.5 * (PEAK_LR - 1e-4) * (1 + math.cos(math.pi * frac))


def psnr(mse):
    return -10.0 * math.log10(max(mse, 1e-12))


coords, colors = swatch(SIDE)
ij = np.indices((SIDE, SIDE)).reshape(2, -1).T
train_mask = ((ij[:, 0] + ij[:, 1]) % 2) == 0
Xtr, Ytr = mx.array(coords[train_mask]), mx.array(colors[train_mask])
Xte, Yte = mx.array(coords[~train_mask]), mx.array(colors[~train_mask])
print(f"pixels: train {Xtr.shape[0]}  held-out {Xte.shape[0]}")

# Baselines on the held-out half.
mean_mse = float(np.mean((colors[~train_mask] - colors[train_mask].mean(0)) ** 2))
img = colors.reshape(SIDE, SIDE, 3)
left = np.roll(img, 1, axis=1).reshape(-1, 3)[~train_mask]
right = np.roll(img, -1, axis=1).reshape(-1, 3)[~train_mask]
nb_mse = float(np.mean((colors[~train_mask] - 0.5 * (left + right)) ** 2))
print(f"baseline held-out PSNR: mean colour {psnr(mean_mse):.2f} dB | neighbour average {psnr(nb_mse):.2f} dB")


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def run_session(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        loss, grads = step_fn(model, Xtr, Ytr)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step < 3 or step % 60 == 0 or step == STEPS - 1:
            te = float(loss_fn(model, Xte, Yte))
            print(f"step {step:4d}  lr {lr_at(step):.2e}  train mse {float(loss):.5f}  "
                  f"held-out PSNR {psnr(te):6.2f} dB")


mx.random.seed(3)
model = GaborNet()
opt = optim.Adam(learning_rate=0.0)
run_session(model, opt, 0, PAUSE_AT)

ckpt_dir = tempfile.mkdtemp()
wpath = os.path.join(ckpt_dir, "weights.safetensors")
opath = os.path.join(ckpt_dir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = float(loss_fn(model, Xte, Yte))
print(f"-- checkpoint written at step {PAUSE_AT}; held-out PSNR {psnr(before):.2f} dB --")

del model, opt
mx.random.seed(999)  # a fresh process would draw a different init; weights are restored below
model = GaborNet()
model.load_weights(wpath, strict=False)
opt = optim.Adam(learning_rate=0.0)
opt.state = tree_unflatten(list(mx.load(opath).items()))
after = float(loss_fn(model, Xte, Yte))
print(f"-- resumed; held-out PSNR {psnr(after):.2f} dB --")
run_session(model, opt, PAUSE_AT, STEPS)

final = float(loss_fn(model, Xte, Yte))
print(f"final held-out PSNR {psnr(final):.2f} dB (neighbour average {psnr(nb_mse):.2f} dB, mean colour {psnr(mean_mse):.2f} dB)")
