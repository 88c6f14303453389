"""Tiny harmonic-plus-envelope vocoder trained in a background worker.

Frame-rate features (8 dims, 16 frames) -> amplitude envelope; a
harmonic sine source driven by a frame-rate f0 contour is upsampled to the
sample rate and multiplied by the predicted envelope.  The training loop runs
in a ThreadPoolExecutor so the main thread can act as a watchdog and print a
heartbeat while the job is running (same pattern as serving the model from a
web worker).
"""
import math
import time
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 4000
UPSAMPLE_RATES = [4, 2]
HOP = 2
FRAMES = 16
FEAT = 8


class SineSource:
    """Harmonic excitation from a frame-rate f0 contour."""

    def __init__(self, sampling_rate, upsample_scale, harmonics=3):
        self.sampling_rate = sampling_rate
        self.upsample_scale = upsample_scale
        self.harmonics = harmonics

    def __call__(self, f0_frames):
        # f0_frames: (B, T) in Hz -> (B, T * upsample, 1)
        f0 = mx.repeat(f0_frames, int(self.upsample_scale), axis=1)
        phase = 2 * math.pi * mx.cumsum(f0 / self.sampling_rate, axis=1)
        src = sum(mx.sin((k + 1) * phase) / (k + 1) for k in range(self.harmonics))
        return src[..., None]


class EnvelopeVocoder(nn.Module):
    def __init__(self, feat_dim, hidden, upsample_rates, hop):
        super().__init__()
        upsample_rates = mx.array(upsample_rates)
        self.m_source = SineSource(SR, upsample_scale=mx.prod(upsample_rates) * hop)
        self.total_up = int(np.prod(UPSAMPLE_RATES)) * HOP
        self.enc = nn.Linear(feat_dim, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, feats, f0):
        env = nn.sigmoid(self.out(mx.tanh(self.enc(feats))))  # (B, T, 1)
        env = mx.repeat(env, self.total_up, axis=1)
        return env * self.m_source(f0)


def make_batch(rng, w_true, n=32):
    feats = rng.normal(size=(n, FRAMES, FEAT)).astype(np.float32)
    f0 = rng.uniform(80.0, 300.0, size=(n, 1)).astype(np.float32) * np.ones((1, FRAMES), np.float32)
    f0 = f0 * (1.0 + 0.05 * np.sin(np.linspace(0, 3, FRAMES, dtype=np.float32)))
    amp = 1.0 / (1.0 + np.exp(-(feats @ w_true)))  # (n, T, 1)
    up = int(np.prod(UPSAMPLE_RATES)) * HOP
    amp = np.repeat(amp, up, axis=1)
    ph = 2 * np.pi * np.cumsum(np.repeat(f0, up, axis=1) / SR, axis=1)
    src = sum(np.sin((k + 1) * ph) / (k + 1) for k in range(3))[..., None]
    y = amp * src + 0.01 * rng.normal(size=amp.shape)
    return mx.array(feats), mx.array(f0), mx.array(y.astype(np.float32))


def train_job(model, steps=2000, log_every=250):
    rng = np.random.default_rng(1)
    w_true = rng.normal(size=(FEAT, 1)).astype(np.float32)
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, feats, f0, y):
        return nn.losses.mse_loss(m(feats, f0), y)

    step_fn = nn.value_and_grad(model, loss_fn)
    hist = []
    running = 0.0
    for step in range(1, steps + 1):
        feats, f0, y = make_batch(rng, w_true)
        loss, grads = step_fn(model, feats, f0, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if step % log_every == 0:
            hist.append((step, running / log_every))
            running = 0.0
    return hist


def main():
    mx.random.seed(0)
    model = EnvelopeVocoder(FEAT, 32, UPSAMPLE_RATES, HOP)
    mx.eval(model.parameters())
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainer") as pool:
        fut = pool.submit(train_job, model)
        while True:
            done, _ = wait([fut], timeout=2.0)
            if done:
                break
            print(f"[watchdog] trainer alive, {time.time() - t0:5.1f}s elapsed", flush=True)
        history = fut.result()
    print("step | mse (mean of last 250 steps)")
    for step, l in history:
        print(f"{step:4d} | {l:.5f}")
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
