"""Estimate the sweep rate of a whale-call-like tonal sweep from a hydrophone
spectrogram (16 time rows x 32 frequency bins) with a small ViT.

- non-square 4x8 patches via a strided Conv2d (channels-last input)
- constant 2-D sin/cos position code (not trained), mean pooling over tokens
- heteroscedastic Gaussian head: predicts mean and log-variance, trained with
  the Gaussian negative log-likelihood (it goes below zero once the model is
  confident and right)
- AdamW with warm restarts (cosine cycles of 40, 80, 240 steps), logs at cycle ends
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
T, F = 16, 32
PT, PF = 4, 8
NTOK = (T // PT) * (F // PF)
DIM = 32
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make(n, r):
    rate = r.uniform(-1.0, 1.0, n)                 # bins per time row
    start = r.uniform(8, 24, n)
    snr = r.uniform(0.6, 3.0, n)
    t = np.arange(T)[None, :, None]
    f = np.arange(F)[None, None, :]
    centre = start[:, None, None] + rate[:, None, None] * (t - T / 2)
    tone = np.exp(-0.5 * ((f - centre) / 1.2) ** 2) * snr[:, None, None]
    x = tone + r.normal(0, 1.0, (n, T, F))
    # the label itself is noisier for faint calls (analyst picks)
    y = rate + r.normal(0, 0.05, n) / snr
    return x[..., None].astype(np.float32), y.astype(np.float32), snr


def sincos_2d(h, w, d):
    q = d // 4
    omega = 1.0 / (100.0 ** (np.arange(q) / q))
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    oy = yy.reshape(-1, 1) * omega[None]
    ox = xx.reshape(-1, 1) * omega[None]
    return np.concatenate([np.sin(ox), np.cos(ox), np.sin(oy), np.cos(oy)], 1).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.n2 = nn.LayerNorm(DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, DIM))

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.attn(h, h, h)
        return x + self.ff(self.n2(x))


class SweepViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.to_tokens = nn.Conv2d(1, DIM, kernel_size=(PT, PF), stride=(PT, PF))
        self._pos = mx.array(sincos_2d(T // PT, F // PF, DIM))[None]   # constant, not a parameter
        self.layers = [Encoder(), Encoder()]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, x):
        z = self.to_tokens(x)
        z = z.reshape(z.shape[0], -1, DIM) + self._pos
        for l in self.layers:
            z = l(z)
        out = self.head(self.norm(z).mean(axis=1))
        return out[:, 0], mx.clip(out[:, 1], -9.0, 4.0)


def nll(model, x, y):
    mu, logv = model(x)
    return (0.5 * (logv + (y - mu) ** 2 * mx.exp(-logv))).mean()


t0 = time.time()
xtr, ytr, _ = make(2400, rng)
xva, yva, sva = make(500, rng)
ym, ys = ytr.mean(), ytr.std()
Xtr, Ytr = mx.array(xtr), mx.array((ytr - ym) / ys)
Xva, Yva = mx.array(xva), mx.array((yva - ym) / ys)
base_nll = 0.5 * math.log(float(((yva - ym) / ys).var()) + 1e-12) + 0.5
print(f"data: {len(xtr)} train / {len(xva)} val spectrograms {T}x{F}; target sweep rate standardised "
      f"(mean {ym:.3f}, std {ys:.3f})")
print(f"baseline (constant Gaussian fitted to train): val nll {base_nll:.3f}, val mae {np.abs(yva - ym).mean():.3f} bins/row")

model = SweepViT()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"model: {n_params} trainable parameters, {NTOK} tokens of {PT}x{PF}")

cycles = [40, 80, 240]
LR_MAX, LR_MIN = 3e-3, 3e-5
opt = optim.AdamW(learning_rate=LR_MAX, weight_decay=1e-4)
step = nn.value_and_grad(model, nll)
B = 32


def evaluate():
    mu, logv = model(Xva)
    v = float(nll(model, Xva, Yva))
    mae = float(mx.abs(mu - Yva).mean()) * ys
    sig = np.exp(0.5 * np.array(logv)) * ys
    faint = sva < 1.2
    return v, mae, sig[faint].mean(), sig[~faint].mean()


gstep = 0
for c, L in enumerate(cycles):
    run = 0.0
    for k in range(L):
        lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * k / L))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, Xtr.shape[0], B))
        loss, g = step(model, Xtr[idx], Ytr[idx])
        g, gn = optim.clip_grad_norm(g, 5.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        gstep += 1
        run += loss.item()
        if k == 0 and c > 0:
            print(f"  restart {c}: lr back to {lr:.1e}, first-batch nll {loss.item():.3f}")
    v, mae, s_faint, s_loud = evaluate()
    print(f"cycle {c + 1} ({L} steps, total {gstep}): train nll {run / L:.3f} | val nll {v:.3f} "
          f"(baseline {base_nll:.3f}) mae {mae:.3f} | pred sigma faint {s_faint:.3f} loud {s_loud:.3f}")

print(f"done in {time.time() - t0:.1f}s")
