"""Sunflower head: learn where seeds sit (Fermat spiral) with a flow-matching
velocity field. Noise and seeds in each minibatch are paired by rank along a
random direction before the straight-line interpolation. Two sessions: the run
writes a checkpoint half-way, rebuilds model and optimizer from disk and goes on.
"""
import json
import shutil
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

GOLDEN = math.pi * (3.0 - math.sqrt(5.0))
N_SEEDS = 700
STEPS_TOTAL = 600
STEPS_SESSION1 = 300
BATCH = 128
REPORT_EVERY = 150


def sunflower(n, rng):
    k = rng.integers(1, N_SEEDS + 1, size=n).astype(np.float64)
    r = np.sqrt(k / N_SEEDS)
    th = k * GOLDEN
    pts = np.stack([r * np.cos(th), r * np.sin(th)], axis=1)
    pts += rng.normal(scale=0.006, size=pts.shape)
    return pts


rng = np.random.default_rng(7)
train = sunflower(30000, rng)
held = sunflower(1200, rng)
mu, sd = train.mean(0), train.std(0)
train = ((train - mu) / sd).astype(np.float32)
held = ((held - mu) / sd).astype(np.float32)
gauss_fit = rng.normal(size=held.shape).astype(np.float32)  # N(0,I) matches the standardised moments


class Velocity(nn.Module):
    def __init__(self, width=64, n_freq=6):
        super().__init__()
        self.freqs = mx.array(np.pi * 2.0 ** np.arange(n_freq), dtype=mx.float32)
        self.inp = nn.Linear(2 + 2 * n_freq, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 2)

    def __call__(self, x, t):
        ang = t[:, None] * self.freqs[None, :]
        h = nn.silu(self.inp(mx.concatenate([x, mx.sin(ang), mx.cos(ang)], axis=1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


def make_schedule():
    warm = optim.linear_schedule(0.0, 3e-3, 60)
    cos = optim.cosine_decay(3e-3, STEPS_TOTAL - 60, 3e-5)
    return optim.join_schedules([warm, cos], [60])


def rank_pair(noise, data, prng):
    """Pair noise with data by their order along one random direction."""
    d = prng.normal(size=2)
    d /= np.linalg.norm(d)
    i_n = np.argsort(noise @ d)
    i_d = np.argsort(data @ d)
    return noise[i_n], data[i_d]


def fm_loss(model, x0, x1, t):
    xt = (1.0 - t[:, None]) * x0 + t[:, None] * x1
    v = model(xt, t)
    return mx.mean(mx.sum((v - (x1 - x0)) ** 2, axis=1))


def heun_sample(model, z, n_steps=12):
    x = z
    ts = np.linspace(0.0, 1.0, n_steps + 1)
    for a, b in zip(ts[:-1], ts[1:]):
        ta = mx.full((x.shape[0],), float(a))
        tb = mx.full((x.shape[0],), float(b))
        k1 = model(x, ta)
        xp = x + (b - a) * k1
        k2 = model(xp, tb)
        x = x + 0.5 * (b - a) * (k1 + k2)
    mx.eval(x)
    return np.array(x)


def nn_dist(a, b):
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.sqrt(d.min(axis=1))


def scores(gen):
    prec = float(np.mean(nn_dist(gen, held)))   # generated -> nearest real seed
    rec = float(np.mean(nn_dist(held, gen)))    # real seed -> nearest generated
    r = np.sqrt(((gen * sd + mu) ** 2).sum(1))
    outside = float(np.mean(r > 1.03)) * 100.0
    return prec, rec, outside


eval_rng = np.random.default_rng(123)
eval_x0 = mx.array(eval_rng.normal(size=(512, 2)).astype(np.float32))
eval_x1 = mx.array(held[:512])
eval_t = mx.array(eval_rng.uniform(size=512).astype(np.float32))
sample_z = mx.array(np.random.default_rng(99).normal(size=(600, 2)).astype(np.float32))


def build():
    m = Velocity()
    o = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    return m, o


def row(*cols):
    print(" | ".join(cols), flush=True)


def run_session(model, opt, start, stop, prng, tag):
    loss_and_grad = nn.value_and_grad(model, fm_loss)
    window = []
    t0 = time.time()
    for step in range(start, stop):
        idx = prng.integers(0, train.shape[0], size=BATCH)
        x1 = train[idx]
        x0 = prng.normal(size=x1.shape).astype(np.float32)
        x0, x1 = rank_pair(x0, x1, prng)
        t = mx.array(prng.uniform(size=BATCH).astype(np.float32))
        lr_used = float(opt.learning_rate)
        loss, grads = loss_and_grad(model, mx.array(x0), mx.array(x1), t)
        if step == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            row("gradcheck", f"leaves={len(leaves)}", f"all-zero={len(zero)}", f"lr_at_step1={lr_used:.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % REPORT_EVERY == 0 or step + 1 == stop:
            ev = fm_loss(model, eval_x0, eval_x1, eval_t).item()
            prec, rec, outside = scores(heun_sample(model, sample_z))
            row(f"{tag} step {step + 1:5d}", f"lr {lr_used:.2e}", f"train fm {np.mean(window):.4f}",
                f"held fm (unpaired) {ev:.4f}", f"gen->seed {prec:.4f}", f"seed->gen {rec:.4f}",
                f"outside rim {outside:5.1f}%", f"{time.time() - t0:5.1f}s")
            window = []
    return model, opt


print(f"seeds: train {train.shape[0]}  held {held.shape[0]}  spiral of {N_SEEDS} florets, golden angle {math.degrees(GOLDEN):.2f} deg")
p_h, r_h = float(np.mean(nn_dist(held[:600], held[600:]))), float(np.mean(nn_dist(held[600:], held[:600])))
p_g, r_g, o_g = scores(gauss_fit[:600])
row("baseline real-vs-real", f"gen->seed {p_h:.4f}", f"seed->gen {r_h:.4f}")
row("baseline gaussian fit", f"gen->seed {p_g:.4f}", f"seed->gen {r_g:.4f}", f"outside rim {o_g:5.1f}%")

mx.random.seed(0)
model, opt = build()
mx.eval(model.parameters())
prec0, rec0, out0 = scores(heun_sample(model, sample_z))
row("untrained", f"held fm {fm_loss(model, eval_x0, eval_x1, eval_t).item():.4f}",
    f"gen->seed {prec0:.4f}", f"seed->gen {rec0:.4f}", f"outside rim {out0:5.1f}%")

prng = np.random.default_rng(2024)
model, opt = run_session(model, opt, 0, STEPS_SESSION1, prng, "s1")

ckpt = tempfile.mkdtemp(prefix="sunflower_")
model.save_weights(os.path.join(ckpt, "velocity.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"next_step": STEPS_SESSION1}, f)
before = fm_loss(model, eval_x0, eval_x1, eval_t).item()
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt, "velocity.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    nxt = json.load(f)["next_step"]
mx.eval(model.parameters(), opt.state)
after = fm_loss(model, eval_x0, eval_x1, eval_t).item()
row("resume", f"held fm before {before:.6f}", f"after {after:.6f}",
    f"optimizer step {int(opt.state['step'].item())}", f"lr now {float(opt.learning_rate):.2e}")

model, opt = run_session(model, opt, nxt, STEPS_TOTAL, prng, "s2")
shutil.rmtree(ckpt)
print("done")
