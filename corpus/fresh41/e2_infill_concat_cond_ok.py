"""E2-TTS-style flow-matching infilling on toy 'mel spectrograms'.

A random span of each mel sequence is hidden; the model gets the visible part as
a voicebox-like condition (concatenated to the noisy input along channels) and
learns the flow x1 - x0 on the hidden span (rectified-flow / OT path).
"""
import datetime
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(0)
rng = np.random.default_rng(0)
N_MELS, SEQ, BATCH = 16, 48, 16


def synth_mels(n):
    """Smooth harmonic 'spectrogram' sequences with slowly drifting pitch."""
    t = np.linspace(0, 1, SEQ)[None, :, None]
    bins = np.arange(N_MELS)[None, None, :]
    f0 = rng.uniform(2, 6, (n, 1, 1)) + rng.uniform(-1.5, 1.5, (n, 1, 1)) * t
    amp = rng.uniform(0.5, 1.0, (n, 1, 1))
    env = np.exp(-0.5 * ((bins - f0 * 2) / 1.5) ** 2)
    mel = amp * env * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(1, 3, (n, 1, 1)) * t))
    return (mel * 2 - 0.5).astype(np.float32)


def time_embed(t, dim=32):
    half = dim // 2
    freqs = mx.exp(-math.log(1000.0) * mx.arange(half) / half)
    ang = t[:, None] * 1000.0 * freqs[None, :]
    return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1)


class ConvBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, kernel_size=5, padding=2)
        self.ff = nn.Linear(dim, dim)
        self.time = nn.Linear(32, dim)

    def __call__(self, x, temb):
        h = self.norm(x) + self.time(temb)[:, None, :]
        h = self.ff(nn.gelu(self.conv(h)))
        return x + h


class E2Infiller(nn.Module):
    def __init__(self, n_mels, dim=48, depth=3, concat_cond=True):
        super().__init__()
        self.concat_cond = concat_cond
        self.proj_in = nn.Linear(2 * n_mels if concat_cond else n_mels, dim)
        self.blocks = [ConvBlock(dim) for _ in range(depth)]
        self.proj_out = nn.Linear(dim, n_mels)

    def __call__(self, x, cond, times):
        if self.concat_cond:
            # concat condition, given as using voicebox-like scheme
            x = mx.concatenate((cond, x), axis=-1)
        x = self.proj_in(x)
        temb = time_embed(times)
        for blk in self.blocks:
            x = blk(x, temb)
        return self.proj_out(x)


def flow_matching_loss(model, x1):
    b = x1.shape[0]
    # random span to infill: 30-60% of the frames
    lens = mx.random.randint(int(0.3 * SEQ), int(0.6 * SEQ), (b,))
    start = (mx.random.uniform(shape=(b,)) * (SEQ - lens)).astype(mx.int32)
    frames = mx.arange(SEQ)[None, :]
    span = (frames >= start[:, None]) & (frames < (start + lens)[:, None])
    cond = mx.where(span[..., None], mx.zeros_like(x1), x1)
    x0 = mx.random.normal(x1.shape)
    t = mx.random.uniform(shape=(b,))
    w = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
    flow = x1 - x0
    pred = model(w, cond, t)
    err = ((pred - flow) ** 2).mean(-1)
    return (err * span).sum() / mx.maximum(span.sum(), 1)


train = mx.array(synth_mels(2048))
model = E2Infiller(N_MELS)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-2)
loss_and_grad = nn.value_and_grad(model, flow_matching_loss)
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Using {n_params:,} trainable parameters.")

log_every, total_steps = 25, 250
start_time = log_time = datetime.datetime.now()
running = 0.0
for step in range(1, total_steps + 1):
    idx = mx.array(rng.integers(0, train.shape[0], BATCH))
    loss, grads = loss_and_grad(model, train[idx])
    grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running += loss.item()
    if step % log_every == 0:
        now = datetime.datetime.now()
        sps = log_every / max((now - log_time).total_seconds(), 1e-6)
        print(f"step {step}: loss = {running / log_every:.4f}, steps per sec = {sps:.1f}")
        running, log_time = 0.0, now
print(f"Training complete in {datetime.datetime.now() - start_time}")
