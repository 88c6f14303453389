"""Glacier-fed river gauge: next-hour discharge forecast from the last 32 hourly
readings with a tiny causal transformer that uses a learned, bucketed
relative-position bias per head (T5 style) instead of absolute positions.

The head predicts a mean and a log-variance, so the Gaussian NLL goes negative
once the model is sharper than unit variance. The run stops half-way, writes a
checkpoint, and a fresh process-like restart reloads it and finishes."""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

CTX = 32
DIM = 48
HEADS = 4
BUCKETS = 12
MAX_DIST = 32
STEPS = 160
WARMUP = 30
BATCH = 16
PEAK_LR = 2e-3


def synth_discharge(rng, hours):
    """Diurnal melt pulse with a lag, a slow seasonal trend and rain events."""
    t = np.arange(hours)
    season = 0.6 * np.sin(2 * np.pi * t / (24 * 60))
    melt = np.maximum(0, np.sin(2 * np.pi * (t - 5) / 24)) ** 1.5
    rain = np.zeros(hours)
    for s in rng.integers(0, hours, size=hours // 200):
        rain[s:s + 30] += rng.uniform(0.5, 1.5) * np.exp(-np.arange(len(rain[s:s + 30])) / 8)
    q = 1.0 + season + 1.2 * melt + rain + rng.normal(0, 0.08, hours)
    return q.astype(np.float32)


def relative_bucket(rel):
    """Signed distance -> bucket id; exact for short lags, log-spaced for long ones (causal only)."""
    n = np.maximum(-rel, 0)
    exact = BUCKETS // 2
    large = exact + (np.log(np.maximum(n, 1) / exact) / math.log(MAX_DIST / exact) * (BUCKETS - exact)).astype(np.int64)
    large = np.minimum(large, BUCKETS - 1)
    return np.where(n < exact, n, large)


class RelBiasAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.out = nn.Linear(DIM, DIM)
        self.rel_bias = nn.Embedding(BUCKETS, HEADS)

    def __call__(self, x, buckets, causal):
        B, L, _ = x.shape
        hd = DIM // HEADS
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, HEADS, hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        bias = (buckets @ self.rel_bias.weight).transpose(2, 0, 1)[None]  # (1, H, L, L)
        mask = bias + causal
        w = mx.softmax((q * hd**-0.5) @ k.transpose(0, 1, 3, 2) + mask, axis=-1)
        y = w @ v
        return self.out(y.transpose(0, 2, 1, 3).reshape(B, L, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.attn = RelBiasAttention()
        self.ff = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.SiLU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x, buckets, causal):
        x = x + self.attn(self.ln1(x), buckets, causal)
        return x + self.ff(self.ln2(x))


class GaugeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, DIM)
        self.blocks = [Block(), Block()]
        self.ln = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, x, buckets, causal):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h, buckets, causal)
        out = self.head(self.ln(h))
        return out[..., 0], mx.clip(out[..., 1], -8.0, 4.0)


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP  # starts at exactly 0.0
    frac = (step - WARMUP) / (STEPS - WARMUP)
    return 1e-5 + 0.5 * (PEAK_LR - 1e-5) * (1 + math.cos(math.pi * frac))


def windows(series, idx, mean, std):
    z = (series - mean) / std
    x = np.stack([z[i:i + CTX] for i in idx])
    y = np.stack([z[i + 1:i + CTX + 1] for i in idx])
    hour = np.stack([np.sin(2 * np.pi * (np.arange(i, i + CTX) % 24) / 24) for i in idx]).astype(np.float32)
    return mx.array(np.stack([x, hour], -1)), mx.array(y)


def nll(model, x, y, buckets, causal):
    mu, logvar = model(x, buckets, causal)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi)))


def run_segment(model, opt, start, stop, train, mean, std, rng, buckets, causal):
    step_fn = nn.value_and_grad(model, nll)
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = rng.integers(0, len(train) - CTX - 1, size=BATCH)
        x, y = windows(train, idx, mean, std)
        loss, grads = step_fn(model, x, y, buckets, causal)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 20 == 0:
            print(f"step {step:4d}  lr {lr_at(step):.2e}  train nll {loss.item():+.4f}")


def evaluate(model, val, mean, std, buckets, causal):
    idx = np.arange(0, len(val) - CTX - 1, 7)
    x, y = windows(val, idx, mean, std)
    mu, logvar = model(x, buckets, causal)
    last_mu, last_y = mu[:, -1] * std + mean, y[:, -1] * std + mean
    persist = x[:, -1, 0] * std + mean
    mae = mx.mean(mx.abs(last_mu - last_y)).item()
    mae_p = mx.mean(mx.abs(persist - last_y)).item()
    val_nll = nll(model, x, y, buckets, causal).item()
    return val_nll, mae, mae_p


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    series = synth_discharge(rng, 24 * 160)
    train, val = series[: 24 * 130], series[24 * 130:]
    mean, std = float(train.mean()), float(train.std())
    pos = np.arange(CTX)
    buckets = mx.array(np.eye(BUCKETS, dtype=np.float32)[relative_bucket(pos[None, :] - pos[:, None])])
    causal = nn.MultiHeadAttention.create_additive_causal_mask(CTX)

    model = GaugeNet()
    print("params:", sum(v.size for _, v in tree_flatten(model.parameters())))
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
    t0 = time.time()
    half = STEPS // 2
    run_segment(model, opt, 0, half, train, mean, std, rng, buckets, causal)
    v = evaluate(model, val, mean, std, buckets, causal)
    print(f"[checkpoint @ {half}] val nll {v[0]:+.4f}  mae {v[1]:.4f} m3/s  (persistence {v[2]:.4f})")

    ckpt = os.path.join(tempfile.mkdtemp(), "gauge.safetensors")
    model.save_weights(ckpt)
    opt_state = dict(tree_flatten(opt.state))
    mx.save_safetensors(ckpt.replace(".safetensors", "_opt.safetensors"),
                        {k: v for k, v in opt_state.items() if isinstance(v, mx.array)})
    del model, opt

    # restart from disk
    model = GaugeNet()
    model.load_weights(ckpt)
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
    from mlx.utils import tree_unflatten
    opt.state = tree_unflatten(list(mx.load(ckpt.replace(".safetensors", "_opt.safetensors")).items()))
    print("resumed from", os.path.basename(ckpt), "at step", half)
    run_segment(model, opt, half, STEPS, train, mean, std, rng, buckets, causal)
    v = evaluate(model, val, mean, std, buckets, causal)
    print(f"[final] val nll {v[0]:+.4f}  mae {v[1]:.4f} m3/s  (persistence {v[2]:.4f})  "
          f"noise floor ~{0.08 * 0.8:.3f}  time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
