"""Parquet workshop: sharpen 4x4 floor-plan thumbnails back to 8x8 board layouts.

SR3-style conditional diffusion on the residual between the 8x8 layout and the
nearest-upsampled 4x4 thumbnail.  Residual SiLU MLP over the flattened NHWC boards, eps-prediction, cosine
alpha-bar (T=40), AdamW with a linear warmup from 0, cosine decay, EMA weights,
a checkpoint written half way and the run resumed from it in fresh objects,
DDIM sampling for the held-out PSNR against the nearest-upsample baseline.
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

SEED = 11
T = 40
STEPS = 800
HALF = 400
WARMUP = 80
BATCH = 64
PEAK_LR = 2e-3
EMA_DECAY = 0.99

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def board(kind, a, b, phase):
    y, x = np.mgrid[0:8, 0:8]
    if kind == 0:    # herringbone-ish zigzag
        m = ((x + phase + np.abs((y % 4) - 2)) // 2) % 2
    elif kind == 1:  # basketweave 2x2 cells
        m = (((x + phase) // 2) + (y // 2)) % 2
    elif kind == 2:  # chevron
        m = ((np.abs(x - 3.5).astype(int) + y + phase) // 2) % 2
    else:            # brick bond strips
        m = ((x + (y // 2) * 2 + phase) // 4) % 2
    img = np.where(m == 1, a, b).astype(np.float32)
    return img


def make_set(n):
    kinds = rng.integers(0, 4, n)
    a = rng.uniform(0.2, 1.0, n)
    b = rng.uniform(-1.0, -0.2, n)
    ph = rng.integers(0, 4, n)
    hi = np.stack([board(k, aa, bb, p) for k, aa, bb, p in zip(kinds, a, b, ph)])
    hi += rng.normal(0, 0.03, hi.shape).astype(np.float32)
    lo = hi.reshape(n, 4, 2, 4, 2).mean(axis=(2, 4))
    up = lo.repeat(2, axis=1).repeat(2, axis=2)
    return hi[..., None].astype(np.float32), up[..., None].astype(np.float32)


train_hi, train_up = make_set(6000)
test_hi, test_up = make_set(256)
train_res = train_hi - train_up
RES_SCALE = float(train_res.std())

s = np.linspace(0, 1, T + 1)
f = np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
alpha_bar = np.clip(f[1:] / f[0], 1e-4, 0.9999).astype(np.float32)
AB = mx.array(alpha_bar)


class TimeEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.freqs = mx.exp(-math.log(100.0) * mx.arange(dim // 2) / (dim // 2))
        self.proj = nn.Linear(dim, dim)

    def __call__(self, t):
        ang = t[:, None].astype(mx.float32) * self.freqs[None] * 4.0
        return nn.silu(self.proj(mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1)))


class SRNet(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.temb = TimeEmbed(32)
        self.inp = nn.Linear(128 + 32, width)
        self.b1 = nn.Linear(width, width)
        self.b2 = nn.Linear(width, width)
        self.b3 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 64)

    def __call__(self, x_t, cond, t):
        n = x_t.shape[0]
        h = mx.concatenate([x_t.reshape(n, 64), cond.reshape(n, 64), self.temb(t)], axis=-1)
        h = nn.silu(self.inp(h))
        h = h + nn.silu(self.b1(h))
        h = h + nn.silu(self.b2(h))
        h = h + nn.silu(self.b3(self.norm(h)))
        return self.out(h).reshape(n, 8, 8, 1)


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    p = (step - WARMUP) / (STEPS - WARMUP)
    return 1e-4 + 0.5 * (PEAK_LR - 1e-4) * (1 + math.cos(math.pi * p))


def loss_fn(model, res, cond, t, noise):
    ab = AB[t][:, None, None, None]
    x_t = mx.sqrt(ab) * res + mx.sqrt(1 - ab) * noise
    return mx.mean((model(x_t, cond, t) - noise) ** 2)


def ddim_sample(model, cond, steps=20):
    n = cond.shape[0]
    x = mx.random.normal((n, 8, 8, 1), key=mx.random.key(123))
    ts = np.linspace(T - 1, 0, steps).round().astype(int)
    for i, t in enumerate(ts):
        tt = mx.full((n,), int(t), dtype=mx.int32)
        ab = AB[int(t)]
        eps = model(x, cond, tt)
        x0 = (x - mx.sqrt(1 - ab) * eps) / mx.sqrt(ab)
        x0 = mx.clip(x0, -3, 3)
        if i + 1 < len(ts):
            ab_prev = AB[int(ts[i + 1])]
            x = mx.sqrt(ab_prev) * x0 + mx.sqrt(1 - ab_prev) * eps
        else:
            x = x0
    return x


def psnr(pred, ref):
    mse = float(mx.mean((pred - ref) ** 2))
    return 10 * math.log10(4.0 / max(mse, 1e-12))


EVAL_T = mx.array(np.tile(np.arange(0, T, 4), 26)[:256].astype(np.int32))
EVAL_NOISE = mx.random.normal((256, 8, 8, 1), key=mx.random.key(7))


def evaluate(model):
    cond = mx.array(test_up)
    hi = mx.array(test_hi)
    res = mx.array((test_hi - test_up) / RES_SCALE)
    eps_mse = loss_fn(model, res, cond, EVAL_T, EVAL_NOISE).item()
    out = cond + ddim_sample(model, cond) * RES_SCALE
    pooled = out.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 4, 4)
    thumb = hi.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 4, 4)
    mx.eval(out, pooled)
    return eps_mse, psnr(out, hi), psnr(pooled, thumb)


def fmt(ev):
    return f"held-out eps-mse {ev[0]:.4f} (zero-predictor 1.0000)  SR PSNR {ev[1]:.2f} dB  thumbnail-consistency PSNR {ev[2]:.2f} dB"


def build():
    model = SRNet()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    return model, opt


def save_ckpt(path, model, ema, opt, step):
    mx.save_safetensors(os.path.join(path, "model.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(path, "ema.safetensors"), dict(tree_flatten(ema)))
    ostate = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), ostate)
    with open(os.path.join(path, "step.txt"), "w") as fh:
        fh.write(str(step))


def load_ckpt(path):
    model, opt = build()
    model.load_weights(os.path.join(path, "model.safetensors"))
    ema = tree_unflatten(list(mx.load(os.path.join(path, "ema.safetensors")).items()))
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "opt.safetensors")).items()))
    with open(os.path.join(path, "step.txt")) as fh:
        step = int(fh.read())
    return model, opt, ema, step


def train_span(model, opt, ema, start, stop, log_every):
    vg = nn.value_and_grad(model, loss_fn)
    run = 0.0
    cnt = 0
    for step in range(start, stop):
        idx = rng.integers(0, len(train_res), BATCH)
        res = mx.array(train_res[idx] / RES_SCALE)
        cond = mx.array(train_up[idx])
        t = mx.array(rng.integers(0, T, BATCH).astype(np.int32))
        noise = mx.random.normal(res.shape)
        opt.learning_rate = lr_at(step)
        loss, grads = vg(model, res, cond, t, noise)
        opt.update(model, grads)
        ema = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema)
        run += loss.item()
        cnt += 1
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:5d}  lr {lr_at(step):.2e}  eps-mse {run / cnt:.4f}")
            run, cnt = 0.0, 0
    return ema


def main():
    t0 = time.time()
    base = psnr(mx.array(test_up), mx.array(test_hi))
    print(f"train boards {len(train_hi)}  held-out {len(test_hi)}  residual std {RES_SCALE:.3f}")
    print(f"baseline nearest-upsample PSNR {base:.2f} dB (blurry by construction, thumbnail-consistent)")

    model, opt = build()
    ema = tree_map(lambda p: mx.array(p), model.parameters())
    print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
    print(f"untrained: {fmt(evaluate(model))}")

    ema = train_span(model, opt, ema, 0, HALF, log_every=50)
    with tempfile.TemporaryDirectory() as d:
        save_ckpt(d, model, ema, opt, HALF)
        print(f"checkpoint at step {HALF}: {fmt(evaluate(model))}")
        print(f"checkpoint files: {sorted(os.listdir(d))}")
        del model, opt, ema
        model, opt, ema, step = load_ckpt(d)
    print(f"resumed from step {step}: {fmt(evaluate(model))}")

    # second half is quiet until the end
    ema = train_span(model, opt, ema, step, STEPS, log_every=0)

    print(f"final raw: {fmt(evaluate(model))}")
    ema_model = SRNet()
    ema_model.update(ema)
    print(f"final ema: {fmt(evaluate(ema_model))}")
    print("note: SR PSNR scores one posterior sample per board; a sample sits about 3 dB under the blurry conditional mean")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
