"""Pipe-organ voicing notes: tokenise the spectra of single organ pipes.

Each pipe spectrum is 32 log-amplitude bins.  A VQ autoencoder maps it to
4 slots, each snapped to the nearest of 48 unit-length codes by cosine
similarity.  Gradients pass the quantiser with the rotation trick
(rotate-and-rescale the encoder vector onto its code, with the rotation held
constant), and the codebook is trained by its own loss term.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
BINS = 32
SLOTS, DIM, CODES = 4, 8, 48
STEPS, BATCH = 1200, 128
PEAK_LR, WARM = 3e-3, 100
BETA = 0.25
NOISE = 0.05

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_pipes(n):
    """Synthetic voicing-room spectra: 5 stop families, pitch, wind pressure."""
    k = np.arange(1, BINS + 1, dtype=np.float64)
    fam = rng.integers(0, 5, size=n)
    pitch = rng.uniform(-1.0, 1.0, size=n)[:, None]
    wind = rng.uniform(0.8, 1.2, size=n)[:, None]
    tilt = np.array([1.2, 2.0, 0.5, 0.8, 0.9])[fam][:, None]
    odd = np.array([0.0, 0.9, 0.1, 0.2, 0.0])[fam][:, None]
    form = np.array([0.0, 0.0, 0.6, 0.0, 0.3])[fam][:, None]
    spec = -tilt * np.log(k)[None, :] * wind
    spec = spec - odd * (k[None, :] % 2 == 0)
    spec = spec + form * np.exp(-0.5 * ((k[None, :] - 12 - 6 * pitch) / 2.5) ** 2)
    spec = spec + 0.3 * pitch * np.sin(k[None, :] / 5.0)
    spec = spec + NOISE * rng.standard_normal(spec.shape)
    return spec.astype(np.float32)


raw_train, raw_val = make_pipes(6000), make_pipes(1000)
mu, sd = raw_train.mean(0), raw_train.std(0) + 1e-6
x_train = mx.array((raw_train - mu) / sd)
x_val = mx.array((raw_val - mu) / sd)
noise_var = float(np.mean((NOISE / sd) ** 2))


def unit(v):
    return v / (mx.linalg.norm(v, axis=-1, keepdims=True) + 1e-6)


class RotationVQ(nn.Module):
    def __init__(self, codes, dim):
        super().__init__()
        self.codebook = mx.random.normal((codes, dim))

    def __call__(self, z):
        zh = unit(z)
        cb = unit(self.codebook)
        sims = mx.stop_gradient(zh) @ mx.stop_gradient(cb).T
        idx = mx.argmax(sims, axis=-1)
        q = cb[idx]
        # rotation trick: out = s * R z with R (and s) treated as constants
        e_s = mx.stop_gradient(zh)
        q_s = mx.stop_gradient(q)
        r = mx.stop_gradient(unit(e_s + q_s))
        scale = mx.stop_gradient(
            mx.linalg.norm(q, axis=-1, keepdims=True)
            / (mx.linalg.norm(z, axis=-1, keepdims=True) + 1e-6)
        )
        rz = (z
              - 2.0 * mx.sum(r * z, axis=-1, keepdims=True) * r
              + 2.0 * mx.sum(e_s * z, axis=-1, keepdims=True) * q_s)
        out = scale * rz
        cb_loss = mx.mean((q - e_s) ** 2)
        commit = mx.mean((zh - q_s) ** 2)
        return out, idx, cb_loss, commit


class PipeTokenizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BINS, 96), nn.GELU(), nn.Linear(96, SLOTS * DIM))
        self.vq = RotationVQ(CODES, DIM)
        self.dec = nn.Sequential(nn.Linear(SLOTS * DIM, 96), nn.GELU(), nn.Linear(96, BINS))

    def __call__(self, x):
        z = self.enc(x).reshape(x.shape[0], SLOTS, DIM)
        q, idx, cb_loss, commit = self.vq(z)
        return self.dec(q.reshape(x.shape[0], SLOTS * DIM)), idx, cb_loss, commit


def loss_fn(model, x):
    xr, _, cb_loss, commit = model(x)
    rec = mx.mean((xr - x) ** 2)
    return rec + cb_loss + BETA * commit, (rec, cb_loss, commit)


model = PipeTokenizer()
mx.eval(model.parameters())
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARM),
     optim.cosine_decay(PEAK_LR, STEPS - WARM, 1e-4)],
    [WARM],
)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    xr, idx, cb_loss, commit = model(x_val)
    mse = mx.mean((xr - x_val) ** 2).item()
    counts = np.bincount(np.array(idx).ravel(), minlength=CODES)
    p = counts / counts.sum()
    ppl = math.exp(-np.sum(p[p > 0] * np.log(p[p > 0])))
    return mse, int((counts > 0).sum()), ppl


mean_mse = float(mx.mean((x_val - x_train.mean(0)) ** 2).item())
print(f"pipes: train {x_train.shape[0]}  val {x_val.shape[0]}  bins {BINS}  "
      f"slots {SLOTS} x {DIM}-d  codes {CODES}")
print(f"reference: predict-mean val mse {mean_mse:.4f} (0.00 dB)   "
      f"added measurement-noise variance ~{noise_var:.4f} (for scale)")
print(f"{'step':>5} {'lr':>9} {'recon':>8} {'cbook':>8} {'commit':>8} "
      f"{'val_mse':>8} {'SNR_dB':>7} {'used':>5} {'ppl':>6} {'sec':>6}")

report = {1, 2, 50, 100, 200, 300, 1000, 1100, 1200}
t0 = time.time()
for step in range(1, STEPS + 1):
    ids = mx.array(rng.integers(0, x_train.shape[0], size=BATCH))
    before = None
    if step == 1:
        before = [v for _, v in tree_flatten(model.trainable_parameters())]
        lr_now = opt.learning_rate.item()
    (loss, (rec, cbl, com)), grads = vg(model, x_train[ids])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1:
        after = [v for _, v in tree_flatten(model.trainable_parameters())]
        moved = max(mx.max(mx.abs(a - b)).item() for a, b in zip(after, before))
        gnz = sum(1 for _, g in tree_flatten(grads) if mx.any(g != 0).item())
        print(f"  step 1 ran at lr {lr_now:.1f}: largest parameter change {moved:.1f}; "
              f"{gnz}/{len(after)} gradient arrays non-zero")
    if step in report:
        vm, used, ppl = evaluate()
        snr = 10 * math.log10(mean_mse / vm)
        print(f"{step:>5} {opt.learning_rate.item():>9.2e} {rec.item():>8.4f} "
              f"{cbl.item():>8.4f} {com.item():>8.4f} {vm:>8.4f} {snr:>7.2f} "
              f"{used:>5d} {ppl:>6.2f} {time.time() - t0:>6.1f}")

vm, used, ppl = evaluate()
print(f"done: val SNR {10 * math.log10(mean_mse / vm):.2f} dB "
      f"(predict-mean 0.00 dB), codes used {used}/{CODES}, perplexity {ppl:.2f}")
