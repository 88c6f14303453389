"""Self-supervised (blind-spot) denoising of Raman spectra.

Only noisy spectra are available for training. A small 1D conv net sees each
spectrum with ~10% of its positions masked out (each replaced by the mean of
its neighbours) and is scored only at those masked positions against the
noisy values there. Because the target itself is noisy, the masked MSE cannot
go below the per-point noise variance; the quality that matters is measured
against the clean spectra, which the trainer never sees.

The run is split in two sessions: after session 1 the weights and optimizer
state are written to disk, everything is rebuilt and session 2 resumes.
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

SEED = 11
L = 256
NOISE = 0.05
N_TRAIN, N_TEST = 1200, 64
BATCH = 16
MASK_FRAC = 0.10
WARMUP, TOTAL = 60, 500
SESSION_SPLIT = 250
PEAK_LR = 2e-3


def synth_spectra(rng, n):
    """Lorentzian Raman bands on a smooth fluorescence background."""
    w = np.linspace(0.0, 1.0, L, dtype=np.float32)
    clean = np.zeros((n, L), dtype=np.float32)
    for i in range(n):
        bg = rng.uniform(0.1, 0.4) + rng.uniform(-0.2, 0.2) * w + rng.uniform(-0.2, 0.2) * w ** 2
        spec = bg.astype(np.float32)
        for _ in range(rng.integers(3, 8)):
            c = rng.uniform(0.05, 0.95)
            g = rng.uniform(0.004, 0.02)
            a = rng.uniform(0.2, 1.0)
            spec = spec + a * g ** 2 / ((w - c) ** 2 + g ** 2)
        clean[i] = spec
    noisy = clean + rng.normal(0.0, NOISE, clean.shape).astype(np.float32)
    return clean, noisy


class SpectrumDenoiser(nn.Module):
    def __init__(self, width=24):
        super().__init__()
        self.inp = nn.Conv1d(1, width, kernel_size=7, padding=3)
        self.body = [nn.Conv1d(width, width, kernel_size=5, padding=2) for _ in range(3)]
        self.out = nn.Conv1d(width, 1, kernel_size=3, padding=1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x[..., None]))
        for conv in self.body:
            h = h + nn.gelu(conv(h))
        return x + self.out(h)[..., 0]


def blind_spot_batch(noisy, rng):
    """Replace masked positions by the mean of their +-2 neighbours."""
    b = noisy.shape[0]
    mask = rng.random((b, L)) < MASK_FRAC
    mask[:, :2] = False
    mask[:, -2:] = False
    neigh = (np.roll(noisy, 1, 1) + np.roll(noisy, -1, 1) + np.roll(noisy, 2, 1) + np.roll(noisy, -2, 1)) / 4.0
    masked_in = np.where(mask, neigh, noisy).astype(np.float32)
    return masked_in, mask.astype(np.float32)


def masked_mse(model, x_in, target, mask):
    pred = model(x_in)
    return mx.sum(mask * (pred - target) ** 2) / mx.maximum(mx.sum(mask), 1.0)


def psnr_db(est, clean):
    mse = np.mean((est - clean) ** 2)
    return 10.0 * np.log10(np.max(clean) ** 2 / mse)


def moving_average(noisy, k=5):
    kern = np.ones(k, dtype=np.float32) / k
    return np.stack([np.convolve(s, kern, mode="same") for s in noisy])


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, TOTAL - WARMUP, 1e-5)],
        [WARMUP],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def run_session(model, opt, first, last, data, rng, report_every=50):
    train_noisy, test_clean, test_noisy, base_db = data
    step_fn = nn.value_and_grad(model, masked_mse)
    for step in range(first, last + 1):
        idx = rng.choice(len(train_noisy), BATCH, replace=False)
        x_in, mask = blind_spot_batch(train_noisy[idx], rng)
        loss, grads = step_fn(model, mx.array(x_in), mx.array(train_noisy[idx]), mx.array(mask))
        lr_used = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == first or step % report_every == 0:
            den = np.array(model(mx.array(test_noisy)))
            print(
                f"[t={step:04d}] lr={lr_used:.2e} | masked-mse {loss.item():.5f} "
                f"(noise var {NOISE ** 2:.5f}) | PSNR vs clean {psnr_db(den, test_clean):5.2f} dB "
                f"(moving-avg baseline {base_db:5.2f} dB)"
            )


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    _, train_noisy = synth_spectra(rng, N_TRAIN)
    test_clean, test_noisy = synth_spectra(rng, N_TEST)
    base_db = psnr_db(moving_average(test_noisy), test_clean)
    raw_db = psnr_db(test_noisy, test_clean)
    print(f"spectra: {N_TRAIN} noisy train, {N_TEST} test, {L} bins, noise sigma {NOISE}")
    print(f"raw noisy PSNR {raw_db:.2f} dB, 5-bin moving average {base_db:.2f} dB")
    data = (train_noisy, test_clean, test_noisy, base_db)

    t0 = time.time()
    model = SpectrumDenoiser()
    mx.eval(model.parameters())
    opt = make_optimizer()
    print("== session 1")
    run_session(model, opt, 1, SESSION_SPLIT, data, rng)

    ckpt_dir = tempfile.mkdtemp()
    w_path = os.path.join(ckpt_dir, "weights.safetensors")
    o_path = os.path.join(ckpt_dir, "optimizer.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    print(f"checkpoint written after step {SESSION_SPLIT} ({len(tree_flatten(opt.state))} optimizer arrays)")
    del model, opt

    model = SpectrumDenoiser()
    model.load_weights(w_path)
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"== session 2 (resumed at optimizer step {opt.state['step'].item()})")
    run_session(model, opt, SESSION_SPLIT + 1, TOTAL, data, rng)

    shutil.rmtree(ckpt_dir, ignore_errors=True)
    den = np.array(model(mx.array(test_noisy)))
    print(f"finished in {time.time() - t0:.1f}s: denoised {psnr_db(den, test_clean):.2f} dB vs moving average {base_db:.2f} dB vs raw {raw_db:.2f} dB")


if __name__ == "__main__":
    main()
