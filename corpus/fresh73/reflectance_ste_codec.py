"""Learned 3-bit codec for 24-band surface reflectance spectra.

Encoder -> 6 latent channels squashed to [0, 1] -> rounded to 8 levels
(straight-through estimator written with mx.custom_function) -> decoder.
Trains silently; prints one summary table at the end.  Quality is reported as
PSNR in dB of the reconstructed reflectance (peak 1.0).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BANDS, LATENT, LEVELS = 24, 6, 8
rng = np.random.default_rng(11)
mx.random.seed(11)

wl = np.linspace(400, 700, BANDS)


def make_spectra(n):
    # mixtures of a few smooth pigment-like absorption curves + sensor noise
    c1 = rng.uniform(420, 680, (n, 1))
    c2 = rng.uniform(420, 680, (n, 1))
    w1 = rng.uniform(25, 80, (n, 1))
    w2 = rng.uniform(25, 80, (n, 1))
    a1 = rng.uniform(0.1, 0.7, (n, 1))
    a2 = rng.uniform(0.0, 0.5, (n, 1))
    base = rng.uniform(0.5, 0.95, (n, 1))
    tilt = rng.uniform(-0.15, 0.15, (n, 1)) * (wl - 550) / 150
    r = base + tilt - a1 * np.exp(-0.5 * ((wl - c1) / w1) ** 2) \
        - a2 * np.exp(-0.5 * ((wl - c2) / w2) ** 2)
    r = r + rng.normal(0, 0.005, r.shape)
    return np.clip(r, 0.0, 1.0).astype(np.float32)


train = mx.array(make_spectra(12000))
test = mx.array(make_spectra(2000))


@mx.custom_function
def quantize(z):
    return mx.round(z * (LEVELS - 1)) / (LEVELS - 1)


@quantize.vjp
def quantize_vjp(primals, cotangent, output):
    return (cotangent,)          # straight-through


class Codec(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Linear(BANDS, 64)
        self.enc2 = nn.Linear(64, LATENT)
        self.dec1 = nn.Linear(LATENT, 64)
        self.dec2 = nn.Linear(64, BANDS)

    def encode(self, x):
        return mx.sigmoid(self.enc2(nn.gelu(self.enc1(x))))

    def __call__(self, x):
        q = quantize(self.encode(x))
        return mx.sigmoid(self.dec2(nn.gelu(self.dec1(q))))


def loss_fn(model, x):
    return mx.mean(mx.square(model(x) - x))


def psnr(model, data):
    mse = mx.mean(mx.square(model(data) - data)).item()
    return 10 * math.log10(1.0 / mse)


model = Codec()
mx.eval(model.parameters())
steps_per_epoch = train.shape[0] // 100
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
vg = nn.value_and_grad(model, loss_fn)

rows = [("init", float("nan"), psnr(model, test), 0.0)]
t0 = time.perf_counter()
grad_note = ""
for epoch in range(1, 13):
    perm = mx.array(rng.permutation(train.shape[0]))
    tot = 0.0
    for i in range(steps_per_epoch):
        xb = train[perm[i * 100:(i + 1) * 100]]
        loss, grads = vg(model, xb)
        if epoch == 1 and i == 0:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if mx.abs(g).max().item() > 0)
            grad_note = f"first-step gradient: {nz}/{len(leaves)} leaves non-zero"
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch in (1, 2, 3, 6, 9, 12):
        rows.append((str(epoch), tot / steps_per_epoch, psnr(model, test),
                     time.perf_counter() - t0))

bits = LATENT * math.log2(LEVELS)
print(grad_note)
print(f"code size: {LATENT} x {int(math.log2(LEVELS))} bits = {bits:.0f} bits/spectrum "
      f"(raw float32: {BANDS * 32} bits)")
print()
print(f"{'epoch':>6} {'train_mse':>10} {'test_psnr_dB':>13} {'sec':>6}")
for ep, tr, ps, s in rows:
    tr_s = "-" if math.isnan(tr) else f"{tr:.5f}"
    print(f"{ep:>6} {tr_s:>10} {ps:>13.2f} {s:>6.1f}")
codes = mx.round(model.encode(test) * (LEVELS - 1))
used = len({tuple(r) for r in np.array(codes).astype(int).tolist()})
print()
print(f"distinct codes used on test: {used}")
