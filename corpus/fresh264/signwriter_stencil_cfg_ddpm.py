"""Sign-writer's stencil shop: a class-conditional denoising diffusion model for 8x8 stencil
motifs (bar, post, slash, ring), trained with label dropout so it can be sampled with
classifier-free guidance. EMA weights are used for sampling; the run is checkpointed half
way, torn down, rebuilt from disk and resumed."""
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SIDE = 8
PIX = SIDE * SIDE
N_CLASSES = 4
NULL = N_CLASSES
T = 50
STEPS = 1000
HALF = 500
BATCH = 64
PEAK_LR = 3e-3
WARMUP = 80
EMA_DECAY = 0.98
P_UNCOND = 0.15
NAMES = ["bar", "post", "slash", "ring"]


def templates():
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    c = (SIDE - 1) / 2
    bar = (np.abs(yy - c) < 1.1).astype(np.float32)
    post = (np.abs(xx - c) < 1.1).astype(np.float32)
    slash = (np.abs(xx - yy) < 1.1).astype(np.float32)
    r = np.sqrt((yy - c) ** 2 + (xx - c) ** 2)
    ring = (np.abs(r - 2.6) < 0.8).astype(np.float32)
    t = np.stack([bar, post, slash, ring]) * 2.0 - 1.0
    return t.reshape(N_CLASSES, PIX)


TEMPL = templates()


def make_batch(rng, n):
    y = rng.integers(0, N_CLASSES, size=n)
    img = TEMPL[y].reshape(n, SIDE, SIDE)
    shifts = rng.integers(-1, 2, size=(n, 2))
    img = np.stack([np.roll(im, tuple(s), axis=(0, 1)) for im, s in zip(img, shifts)])
    img = img * rng.uniform(0.8, 1.0, size=(n, 1, 1)) + 0.1 * rng.standard_normal(img.shape)
    return img.reshape(n, PIX).astype(np.float32), y.astype(np.int32)


betas = np.linspace(1e-4, 0.25, T).astype(np.float32)
alphas = 1.0 - betas
abar = np.cumprod(alphas)
ABAR = mx.array(abar)


class Denoiser(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.label = nn.Embedding(N_CLASSES + 1, 32)
        self.inp = nn.Linear(PIX + 32 + 16, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, PIX)

    def __call__(self, x, t, y):
        freqs = mx.exp(mx.arange(8, dtype=mx.float32) * (-math.log(200.0) / 8))
        ang = (t.astype(mx.float32) / T)[:, None] * freqs[None, :] * 200.0
        temb = mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1)
        h = nn.silu(self.inp(mx.concatenate([x, self.label(y), temb], axis=-1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


def eps_loss(model, x0, t, y, noise):
    a = ABAR[t][:, None]
    xt = mx.sqrt(a) * x0 + mx.sqrt(1.0 - a) * noise
    return mx.mean((model(xt, t, y) - noise) ** 2)


def build(total_steps):
    model = Denoiser()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, total_steps - WARMUP, 1e-4)], [WARMUP])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    ema = Denoiser()
    ema.update(tree_map(lambda p: mx.array(p), model.parameters()))
    mx.eval(model.parameters(), ema.parameters())
    return model, opt, ema


def ddim_sample(net, labels, guidance, key, n_steps=25):
    n = labels.shape[0]
    x = mx.random.normal((n, PIX), key=key)
    ts = np.linspace(T - 1, 0, n_steps).round().astype(int)
    null = mx.full((n,), NULL, dtype=mx.int32)
    for i, t in enumerate(ts):
        tt = mx.full((n,), int(t), dtype=mx.int32)
        e_c = net(x, tt, labels)
        e_u = net(x, tt, null)
        eps = e_u + guidance * (e_c - e_u) if guidance is not None else e_u
        a = abar[t]
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        x0 = mx.clip(x0, -1.5, 1.5)
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
        mx.eval(x)
    return np.array(x)


def motif_agreement(samples, labels):
    # nearest template under all 9 one-pixel shifts, by correlation
    best = np.full((samples.shape[0], N_CLASSES), -np.inf)
    for k in range(N_CLASSES):
        base = TEMPL[k].reshape(SIDE, SIDE)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                tm = np.roll(base, (dy, dx), axis=(0, 1)).reshape(-1)
                tm = (tm - tm.mean()) / tm.std()
                s = samples - samples.mean(1, keepdims=True)
                s = s / (s.std(1, keepdims=True) + 1e-6)
                best[:, k] = np.maximum(best[:, k], (s * tm).mean(1))
    return float((best.argmax(1) == labels).mean())


def report(tag, ema, key):
    labels = np.repeat(np.arange(N_CLASSES), 40).astype(np.int32)
    k1, k2 = mx.random.split(key)
    guided = ddim_sample(ema, mx.array(labels), 2.0, k1)
    uncond = ddim_sample(ema, mx.array(labels), None, k2)
    row = {"event": "samples", "at": tag,
           "agree_guided": round(motif_agreement(guided, labels), 3),
           "agree_unconditional": round(motif_agreement(uncond, labels), 3),
           "chance": round(1 / N_CLASSES, 3),
           "pixel_std_guided": round(float(guided.std()), 3)}
    print(json.dumps(row), flush=True)


def train_span(model, opt, ema, rng, start, stop, total):
    step_fn = nn.value_and_grad(model, eps_loss)
    run = None
    for step in range(start, stop):
        x0, y = make_batch(rng, BATCH)
        y = np.where(rng.random(BATCH) < P_UNCOND, NULL, y).astype(np.int32)
        t = rng.integers(0, T, size=BATCH).astype(np.int32)
        noise = rng.standard_normal((BATCH, PIX)).astype(np.float32)
        lr_now = float(opt.learning_rate) if step > 0 else 0.0
        loss, grads = step_fn(model, mx.array(x0), mx.array(t), mx.array(y), mx.array(noise))
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        ema.update(tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                            ema.parameters(), model.parameters()))
        mx.eval(model.parameters(), opt.state, ema.parameters())
        run = loss.item() if run is None else 0.9 * run + 0.1 * loss.item()
        if step % 100 == 0 or step == total - 1:
            print(json.dumps({"event": "train", "step": step, "lr": round(lr_now, 6),
                              "eps_mse": round(loss.item(), 4), "eps_mse_smooth": round(run, 4),
                              "grad_norm": round(gnorm.item(), 3),
                              "predict_zero_ref": 1.0}), flush=True)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    model, opt, ema = build(STEPS)
    report("init", ema, mx.random.key(1))
    train_span(model, opt, ema, rng, 0, HALF, STEPS)

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "model.safetensors"))
        ema.save_weights(os.path.join(d, "ema.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
        probe_x, probe_y = make_batch(np.random.default_rng(99), 256)
        probe_t = np.random.default_rng(98).integers(0, T, 256).astype(np.int32)
        probe_n = np.random.default_rng(97).standard_normal((256, PIX)).astype(np.float32)
        probe = [mx.array(a) for a in (probe_x, probe_t, probe_y, probe_n)]
        before = eps_loss(model, *probe).item()
        del model, opt, ema
        model, opt, ema = build(STEPS)
        model.load_weights(os.path.join(d, "model.safetensors"))
        ema.load_weights(os.path.join(d, "ema.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        after = eps_loss(model, *probe).item()
        print(json.dumps({"event": "resume", "step": HALF, "opt_step": int(opt.state["step"]),
                          "probe_before": round(before, 6), "probe_after": round(after, 6)}), flush=True)

    report("half", ema, mx.random.key(2))
    train_span(model, opt, ema, rng, HALF, STEPS, STEPS)
    report("final", ema, mx.random.key(3))
    print(json.dumps({"event": "done", "secs": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
