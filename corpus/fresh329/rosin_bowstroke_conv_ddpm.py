"""Bow-pressure strokes of a cello section: a small 1-D convolutional DDPM.

Each stroke is 32 samples of bow pressure (synthetic: attack, sustain with
vibrato-like ripple, release).  An eps-prediction network with Conv1d layers
(written as shifted windows + Linear) and a sinusoidal step embedding learns the strokes; an EMA copy of the weights
is kept beside the raw weights.  Halfway through, weights and Lion state are
written to disk, dropped, and loaded into fresh objects to continue.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

L = 32
T = 100
STEPS = 600
HALF = STEPS // 2
BATCH = 64
rng = np.random.default_rng(11)
mx.random.seed(11)


def make_strokes(n, rng):
    x = np.linspace(0.0, 1.0, L)
    kind = rng.integers(0, 3, n)
    attack = rng.uniform(0.05, 0.2, n)[:, None]
    release = rng.uniform(0.7, 0.95, n)[:, None]
    level = rng.uniform(0.6, 1.2, n)[:, None]
    ripple = rng.uniform(0.02, 0.12, n)[:, None]
    rate = rng.uniform(3.0, 7.0, n)[:, None]
    env = np.clip(x / attack, 0, 1) * np.clip((1.0 - x) / (1.0 - release), 0, 1)
    shape = np.where(kind[:, None] == 0, 1.0,
                     np.where(kind[:, None] == 1, 1.0 - 0.5 * x, 0.5 + 0.5 * x))
    s = level * env * shape + ripple * np.sin(2 * math.pi * rate * x) * env
    s = s + rng.normal(0, 0.015, s.shape)
    return s.astype(np.float32)


train = make_strokes(8000, rng)
held = make_strokes(400, rng)
mu, sd = train.mean(), train.std()
train = (train - mu) / sd
held = (held - mu) / sd

# cosine schedule
s_ = 0.008
steps_ = np.arange(T + 1) / T
abar = np.cos((steps_ + s_) / (1 + s_) * math.pi / 2) ** 2
abar = abar / abar[0]
betas = np.clip(1 - abar[1:] / abar[:-1], 1e-5, 0.999)
alphas = 1.0 - betas
abar_t = np.cumprod(alphas).astype(np.float32)
ABAR = mx.array(abar_t)


def step_features(t, dim=16):
    half = dim // 2
    freqs = mx.exp(-math.log(500.0) * mx.arange(half) / half)
    a = t.astype(mx.float32)[:, None] * freqs[None, :]
    return mx.concatenate([mx.sin(a), mx.cos(a)], axis=-1)


class WindowConv(nn.Module):
    """1-D convolution written as shifted copies + one Linear (same padding)."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.k = k
        self.proj = nn.Linear(cin * k, cout)

    def __call__(self, h):
        p = self.k // 2
        hp = mx.pad(h, [(0, 0), (p, p), (0, 0)])
        win = mx.concatenate([hp[:, i:i + h.shape[1], :] for i in range(self.k)], axis=-1)
        return self.proj(win)


class ConvBlock(nn.Module):
    def __init__(self, ch, tdim):
        super().__init__()
        self.conv1 = WindowConv(ch, ch, 5)
        self.conv2 = WindowConv(ch, ch, 5)
        self.film = nn.Linear(tdim, ch)
        self.norm = nn.GroupNorm(4, ch, pytorch_compatible=True)

    def __call__(self, h, temb):
        y = nn.silu(self.norm(self.conv1(h)))
        y = y + self.film(temb)[:, None, :]
        y = self.conv2(nn.silu(y))
        return h + y


class StrokeDenoiser(nn.Module):
    def __init__(self, ch=16, tdim=32):
        super().__init__()
        self.t1 = nn.Linear(16, tdim)
        self.t2 = nn.Linear(tdim, tdim)
        self.inp = WindowConv(1, ch, 3)
        self.blocks = [ConvBlock(ch, tdim) for _ in range(2)]
        self.out = WindowConv(ch, 1, 3)

    def __call__(self, x, t):
        temb = self.t2(nn.silu(self.t1(step_features(t))))
        h = self.inp(x[..., None])
        for b in self.blocks:
            h = b(h, temb)
        return self.out(nn.silu(h))[..., 0]


def eps_loss(model, x0, t, eps):
    ab = ABAR[t][:, None]
    xt = mx.sqrt(ab) * x0 + mx.sqrt(1.0 - ab) * eps
    return mx.mean((model(xt, t) - eps) ** 2)


def lr_at(step):
    warm = 60
    if step < warm:
        return 3e-4 * step / warm
    p = (step - warm) / (STEPS - warm)
    return 3e-5 + 0.5 * (3e-4 - 3e-5) * (1 + math.cos(math.pi * p))


# one held-out draw, reused for every per-band loss
hrng = np.random.default_rng(5)
H_X = mx.array(held[:256])
BANDS = {"t<20": (0, 20), "20-60": (20, 60), "t>=60": (60, T)}
H_T = {k: mx.array(hrng.integers(a, b, 256)) for k, (a, b) in BANDS.items()}
H_E = mx.array(hrng.standard_normal((256, L)).astype(np.float32))


def band_losses(model):
    return {k: eps_loss(model, H_X, H_T[k], H_E).item() for k in BANDS}


def sample(model, n, seed):
    r = np.random.default_rng(seed)
    x = mx.array(r.standard_normal((n, L)).astype(np.float32))
    for i in reversed(range(T)):
        t = mx.full((n,), i, dtype=mx.int32)
        eps = model(x, t)
        a, ab = float(alphas[i]), float(abar_t[i])
        ab_prev = float(abar_t[i - 1]) if i > 0 else 1.0
        x0 = mx.clip((x - math.sqrt(1 - ab) * eps) / math.sqrt(ab), -5.0, 5.0)
        b = float(betas[i])
        mean = (math.sqrt(ab_prev) * b * x0 + math.sqrt(a) * (1 - ab_prev) * x) / (1 - ab)
        if i > 0:
            var = b * (1 - ab_prev) / (1 - ab)
            x = mean + math.sqrt(var) * mx.array(r.standard_normal((n, L)).astype(np.float32))
        else:
            x = mean
        mx.eval(x)
    return np.array(x)


def profile_gap(a, b):
    """Distance between two sets of strokes: mean profile, std profile and lag-1 correlation."""
    d_mean = np.abs(a.mean(0) - b.mean(0)).mean()
    d_std = np.abs(a.std(0) - b.std(0)).mean()
    ac = lambda z: np.mean((z[:, 1:] - z[:, 1:].mean()) * (z[:, :-1] - z[:, :-1].mean())) / z.var()
    return d_mean + d_std + abs(ac(a) - ac(b))


def make_ema(model):
    return tree_map(lambda p: mx.array(p), model.trainable_parameters())


def build(lr0):
    model = StrokeDenoiser()
    opt = optim.Lion(learning_rate=lr0, weight_decay=1e-3)
    return model, opt


def train_span(model, opt, ema, start, stop, log):
    loss_and_grad = nn.value_and_grad(model, eps_loss)
    shadow = StrokeDenoiser()
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = rng.integers(0, len(train), BATCH)
        x0 = mx.array(train[idx])
        t = mx.array(rng.integers(0, T, BATCH))
        eps = mx.random.normal((BATCH, L))
        loss, grads = loss_and_grad(model, x0, t, eps)
        opt.update(model, grads)
        decay = min(0.995, (1 + step) / (10 + step))
        ema = tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, model.trainable_parameters())
        mx.eval(loss, model.parameters(), opt.state, ema)
        if (step + 1) % 100 == 0 or step == 0:
            shadow.update(ema)
            raw = band_losses(model)
            avg = band_losses(shadow)
            log(step + 1, loss.item(), raw, avg)
    return ema


def main():
    t0 = time.time()
    base_gauss = rng.standard_normal(held.shape).astype(np.float32) * held.std(0) + held.mean(0)
    ref_gap = profile_gap(make_strokes(400, np.random.default_rng(99)).__sub__(mu) / sd, held)
    gauss_gap = profile_gap(base_gauss, held)
    print(f"strokes: {len(train)} train / {len(held)} held, length {L}, T={T}, cosine schedule")
    print(f"profile gap references: fresh draw {ref_gap:.4f}, independent-Gaussian {gauss_gap:.4f}")
    print("step,lr,batch_eps_mse," + ",".join(f"raw[{k}]" for k in BANDS) + "," + ",".join(f"ema[{k}]" for k in BANDS))

    def log(step, loss, raw, avg):
        print(f"{step},{lr_at(step - 1):.2e},{loss:.4f}," + ",".join(f"{raw[k]:.4f}" for k in BANDS)
              + "," + ",".join(f"{avg[k]:.4f}" for k in BANDS), flush=True)

    model, opt = build(0.0)
    ema = make_ema(model)
    ema = train_span(model, opt, ema, 0, HALF, log)

    ckdir = tempfile.mkdtemp()
    w_path = os.path.join(ckdir, "weights.safetensors")
    o_path = os.path.join(ckdir, "opt.safetensors")
    e_path = os.path.join(ckdir, "ema.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    mx.save_safetensors(e_path, dict(tree_flatten(ema)))
    before = band_losses(model)
    del model, opt, ema

    model, opt = build(lr_at(HALF))
    model.load_weights(w_path)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    ema = tree_unflatten(list(mx.load(e_path).items()))
    after = band_losses(model)
    print(f"# resumed at step {HALF}: held t<20 {before['t<20']:.4f} -> {after['t<20']:.4f}, "
          f"opt step {opt.state['step'].item()}")
    ema = train_span(model, opt, ema, HALF, STEPS, log)

    shadow = StrokeDenoiser()
    shadow.update(ema)
    gen_raw = sample(model, 300, 1)
    gen_ema = sample(shadow, 300, 1)
    g_raw = profile_gap(gen_raw, held)
    g_ema = profile_gap(gen_ema, held)
    print(f"profile gap, raw weights : {g_raw:.4f} (vs Gaussian {g_raw - gauss_gap:+.4f})")
    print(f"profile gap, EMA weights : {g_ema:.4f} (vs Gaussian {g_ema - gauss_gap:+.4f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
