"""Night-ward cough monitor: estimate how many coughs are in a 6 s bedside
microphone clip, with an uncertainty.

Synthetic 1 kHz audio (snoring hum, talk-like harmonics, broadband cough bursts),
log-mel frames computed here with numpy, a Conv1d front end (channels-last) and a
head that outputs a mean and a log-variance for the count. Loss is the Gaussian
negative log-likelihood, which goes below zero once the predicted spread is small.

Run layout: stage A trains everything and writes a checkpoint (weights +
optimizer state) to a temporary folder; the process then rebuilds the model and
optimizer from scratch, loads the checkpoint and continues (stage B), and finally
freezes the front end and fine-tunes the head at a lower rate (stage C).
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SR = 1000
CLIP_S = 6.0
N_FFT = 64
HOP = 64
N_MELS = 12


def mel_fb(n_fft, sr, n_mels):
    def h2m(f):
        return 1127.0 * np.log1p(f / 700.0)
    def m2h(m):
        return 700.0 * np.expm1(m / 1127.0)
    pts = m2h(np.linspace(h2m(15.0), h2m(sr / 2), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, freqs.size), np.float32)
    for m in range(n_mels):
        a, b, c = pts[m:m + 3]
        fb[m] = np.maximum(0.0, np.minimum((freqs - a) / (b - a), (c - freqs) / (c - b)))
    return fb


def synth(rng):
    n = int(SR * CLIP_S)
    t = np.arange(n) / SR
    x = 0.03 * rng.standard_normal(n)
    if rng.random() < 0.6:                                   # snoring: slow AM low hum
        f = rng.uniform(60, 110)
        x += 0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 0.35) * t)) ** 3 * np.sin(2 * np.pi * f * t)
    if rng.random() < 0.4:                                   # nurse talking: harmonic stack
        i0 = rng.integers(0, n // 2)
        i1 = i0 + rng.integers(n // 6, n // 2)
        f0 = rng.uniform(110, 180)
        seg = sum(np.sin(2 * np.pi * k * f0 * t[i0:i1]) / k for k in range(1, 4))
        x[i0:i1] += 0.15 * seg
    k = rng.poisson(rng.choice([0.7, 2.0, 4.0]))
    k = int(min(k, 8))
    for _ in range(k):                                       # cough: sharp broadband burst
        i0 = rng.integers(0, n - 300)
        d = rng.integers(150, 300)
        env = np.exp(-np.arange(d) / (d / 5.0))
        x[i0:i0 + d] += rng.uniform(0.4, 0.9) * env * rng.standard_normal(d)
    return x.astype(np.float32), k


def features(x, fb, win):
    nf = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None] + HOP * np.arange(nf)[:, None]
    p = np.abs(np.fft.rfft(x[idx] * win, axis=-1)) ** 2
    return np.log(p @ fb.T + 1e-5).astype(np.float32)


def dataset(n, rng, fb, win):
    xs, ys = [], []
    for _ in range(n):
        a, k = synth(rng)
        xs.append(features(a, fb, win))
        ys.append(k)
    return np.stack(xs), np.array(ys, np.float32)


class CoughCounter(nn.Module):
    def __init__(self, n_in, h):
        super().__init__()
        self.front = nn.Sequential(
            nn.Conv1d(n_in, h, kernel_size=3, padding=1), nn.GELU(),
            nn.Conv1d(h, h, kernel_size=3, padding=1), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * h, 32), nn.GELU(), nn.Linear(32, 2))

    def __call__(self, x):
        h = self.front(x)                                    # (N, L, h)
        pooled = mx.concatenate([h.sum(axis=1) / 10.0, h.max(axis=1)], axis=-1)
        out = self.head(pooled)
        return out[:, 0], mx.clip(out[:, 1], -6.0, 4.0)


def nll(model, x, y):
    mean, logvar = model(x)
    return mx.mean(0.5 * (logvar + (y - mean) ** 2 / mx.exp(logvar)))


def evaluate(model, x, y):
    mean, logvar = model(mx.array(x))
    m = np.array(mean)
    s = np.exp(0.5 * np.array(logvar))
    loss = float(np.mean(0.5 * (np.log(s ** 2) + (y - m) ** 2 / s ** 2)))
    mae = float(np.mean(np.abs(m - y)))
    cover = float(np.mean(np.abs(m - y) <= 1.64 * s))
    return loss, mae, cover, float(np.mean(s))


def run_epochs(model, opt, xtr, ytr, xva, yva, epochs, first_epoch, rng, label):
    step = nn.value_and_grad(model, nll)
    bs = 32
    for ep in range(first_epoch, first_epoch + epochs):
        perm = rng.permutation(len(xtr))
        tot, cnt = 0.0, 0
        for i in range(0, len(perm) - bs + 1, bs):
            b = perm[i:i + bs]
            loss, g = step(model, mx.array(xtr[b]), mx.array(ytr[b]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        vl, mae, cover, sd = evaluate(model, xva, yva)
        print(f"[{label}] epoch {ep:2d}  train_nll {tot / cnt:+.4f}  val_nll {vl:+.4f}  "
              f"val_MAE {mae:.3f} coughs  90%-band cover {cover:.2f}  mean sigma {sd:.3f}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    fb = mel_fb(N_FFT, SR, N_MELS)
    win = np.hanning(N_FFT).astype(np.float32)
    xtr, ytr = dataset(1400, rng, fb, win)
    xva, yva = dataset(300, rng, fb, win)
    mu, sd = xtr.mean(axis=(0, 1)), xtr.std(axis=(0, 1)) + 1e-5
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    print(f"clips {len(xtr)}/{len(xva)}  frames {xtr.shape[1]}  mels {N_MELS}  "
          f"coughs/clip mean {ytr.mean():.2f} max {int(ytr.max())}")
    base_mae = float(np.mean(np.abs(yva - ytr.mean())))
    base_nll = float(0.5 * (np.log(ytr.var()) + np.mean((yva - ytr.mean()) ** 2) / ytr.var()))
    print(f"baseline (train mean, train variance): val_MAE {base_mae:.3f}  val_nll {base_nll:+.4f}")

    model = CoughCounter(N_MELS, 16)
    opt = optim.Adam(learning_rate=2e-3)
    run_epochs(model, opt, xtr, ytr, xva, yva, 5, 1, rng, "A")

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written after epoch 5 -> {ckpt}")
    del model, opt

    model = CoughCounter(N_MELS, 16)
    model.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt = optim.Adam(learning_rate=2e-3)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    vl, mae, _, _ = evaluate(model, xva, yva)
    print(f"resumed from checkpoint: optimizer step {opt.state['step'].item()}  val_nll {vl:+.4f}  val_MAE {mae:.3f}")
    run_epochs(model, opt, xtr, ytr, xva, yva, 5, 6, rng, "B")

    model.front.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"front end frozen; trainable parameters now {n_train}")
    opt_c = optim.Adam(learning_rate=3e-4)
    run_epochs(model, opt_c, xtr, ytr, xva, yva, 3, 11, rng, "C")

    vl, mae, cover, sdv = evaluate(model, xva, yva)
    print(f"final: val_nll {vl:+.4f} (baseline {base_nll:+.4f})  val_MAE {mae:.3f} (baseline {base_mae:.3f})  "
          f"cover {cover:.2f}  time {time.time() - t0:.1f}s")
    shutil.rmtree(ckpt, ignore_errors=True)


if __name__ == "__main__":
    main()
