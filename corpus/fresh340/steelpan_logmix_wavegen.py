"""Sample-level autoregressive waveform model for synthetic steel-pan notes.

8-bit linear PCM (256 levels in [-1, 1]); each next sample is modelled with a
discretized mixture of 4 logistics (PixelCNN++ / Parallel-WaveNet style) given the
32 previous samples and a one-hot of the note's pitch. Two sessions: the first
ends with a checkpoint (weights + optimizer state), the second rebuilds every
object from the files and continues the schedule.
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

SR = 8000
NOTE_LEN = 1024
CTX = 32
K = 4
PITCHES = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3]
NOISE = 0.01
BINS = 256
HALF = 1.0 / (BINS - 1)

rng = np.random.default_rng(7)


def render_note(p_idx):
    f0 = PITCHES[p_idx] * (1 + rng.normal(0, 0.003))
    t = np.arange(NOTE_LEN) / SR
    y = np.zeros(NOTE_LEN)
    # steel-pan notes are tuned with octave and twelfth partials
    for ratio, amp, tau in [(1.0, 1.0, 0.09), (2.0, 0.5, 0.05), (3.0, 0.25, 0.03)]:
        ph = rng.uniform(0, 2 * np.pi)
        y += amp * np.exp(-t / tau) * np.sin(2 * np.pi * f0 * ratio * t + ph)
    y = 0.8 * y / np.max(np.abs(y))
    y = y + rng.normal(0, NOISE, NOTE_LEN)
    q = np.clip(np.round((y + 1) / 2 * (BINS - 1)), 0, BINS - 1)
    return (q / (BINS - 1) * 2 - 1).astype(np.float32)


def make_set(n):
    p = rng.integers(0, len(PITCHES), n)
    return np.stack([render_note(i) for i in p]), p


train_w, train_p = make_set(96)
val_w, val_p = make_set(24)


def windows(wav, pit, idx_note, idx_pos):
    ctx = np.stack([wav[n, s - CTX:s] for n, s in zip(idx_note, idx_pos)])
    tgt = wav[idx_note, idx_pos]
    oh = np.eye(len(PITCHES), dtype=np.float32)[pit[idx_note]]
    return mx.array(np.concatenate([ctx, oh], 1)), mx.array(tgt)


def sample_batch(bs):
    n = rng.integers(0, len(train_w), bs)
    s = rng.integers(CTX, NOTE_LEN, bs)
    return windows(train_w, train_p, n, s)


# static held-out grid: every 4th position of every validation note
vn, vs = np.meshgrid(np.arange(len(val_w)), np.arange(CTX, NOTE_LEN, 4), indexing="ij")
VAL_X, VAL_Y = windows(val_w, val_p, vn.ravel(), vs.ravel())


class LogMixNet(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.l1 = nn.Linear(CTX + len(PITCHES), hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 3 * K)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        h = h + nn.gelu(self.l3(h))
        out = self.head(h)
        logit_pi, mu, log_s = mx.split(out, 3, axis=-1)
        # residual on the last context sample keeps the means near the signal
        mu = mu + x[:, CTX - 1:CTX]
        return logit_pi, mu, mx.maximum(log_s, -7.0)


def discretized_logistic_mix_logp(x, logit_pi, mu, log_s):
    x = x[:, None]
    centered = x - mu
    inv_s = mx.exp(-log_s)
    plus_in = inv_s * (centered + HALF)
    min_in = inv_s * (centered - HALF)
    cdf_plus = mx.sigmoid(plus_in)
    cdf_min = mx.sigmoid(min_in)
    log_cdf_plus = plus_in - nn.softplus(plus_in)
    log_one_minus_cdf_min = -nn.softplus(min_in)
    cdf_delta = cdf_plus - cdf_min
    mid_in = inv_s * centered
    log_pdf_mid = mid_in - log_s - 2.0 * nn.softplus(mid_in)
    inner = mx.where(cdf_delta > 1e-5,
                     mx.log(mx.maximum(cdf_delta, 1e-12)),
                     log_pdf_mid - math.log((BINS - 1) / 2))
    logp = mx.where(x < -0.999, log_cdf_plus,
                    mx.where(x > 0.999, log_one_minus_cdf_min, inner))
    logp = logp + logit_pi - mx.logsumexp(logit_pi, axis=-1, keepdims=True)
    return mx.logsumexp(logp, axis=-1)


def loss_fn(model, x, y):
    return -discretized_logistic_mix_logp(y, *model(x)).mean()


def bits(nats):
    return nats / math.log(2)


def val_bits(model):
    tot = 0.0
    for i in range(0, VAL_X.shape[0], 2048):
        lp = discretized_logistic_mix_logp(VAL_Y[i:i + 2048], *model(VAL_X[i:i + 2048]))
        tot += -lp.sum().item()
    return bits(tot / VAL_X.shape[0])


def make_schedule():
    warm = optim.linear_schedule(0.0, 1e-3, 50)
    decay = optim.cosine_decay(1e-3, 650, 5e-5)
    return optim.join_schedules([warm, decay], [50])


def train_steps(model, opt, start, stop, log_every, t0):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        x, y = sample_batch(256)
        loss, grads = step_fn(model, x, y)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0 or step == stop - 1:
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  "
                  f"train {bits(loss.item()):6.3f} bits/sample  |g| {gnorm.item():7.3f}  "
                  f"({time.perf_counter() - t0:5.1f}s)")


# baselines for the held-out samples
vy = np.array(VAL_Y)
codes = np.round((vy + 1) / 2 * (BINS - 1)).astype(int)
hist = np.bincount(codes, minlength=BINS) / len(codes)
marg_bits = -(hist[hist > 0] * np.log2(hist[hist > 0])).sum()
floor_bits = 0.5 * math.log2(2 * math.pi * math.e * NOISE ** 2) - math.log2(2 * HALF)
print(f"held-out: {len(val_w)} notes, {VAL_X.shape[0]} scored samples")
print(f"reference: uniform 8-bit = 8.000 bits, marginal histogram = {marg_bits:.3f} bits, "
      f"added-noise floor ~ {floor_bits:.3f} bits")

mx.random.seed(3)
model = LogMixNet()
opt = optim.Adam(learning_rate=make_schedule())
t0 = time.perf_counter()
print(f"[session 1] val {val_bits(model):.3f} bits/sample before training")
train_steps(model, opt, 0, 300, 25, t0)
v1 = val_bits(model)
print(f"[session 1] val {v1:.3f} bits/sample at step 300")

ckdir = tempfile.mkdtemp(suffix="_steelpan")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"[session 1] checkpoint written ({len(os.listdir(ckdir))} files)")
del model, opt

model = LogMixNet()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt = optim.Adam(learning_rate=make_schedule())
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"[session 2] resumed at optimizer step {int(opt.state['step'].item())}, "
      f"val {val_bits(model):.3f} bits/sample (saved {v1:.3f})")
train_steps(model, opt, 300, 700, 100, t0)
v2 = val_bits(model)
print(f"[session 2] val {v2:.3f} bits/sample at step 700 "
      f"(marginal {marg_bits:.3f}, floor ~{floor_bits:.3f})")
print(f"saved {8.0 - v2:.2f} bits/sample vs raw 8-bit PCM, "
      f"{marg_bits - v2:.2f} vs the histogram code")
