"""Apiary notebook: a generative model of waggle-dance vectors.

Each observed waggle run is a 2-D vector: direction relative to the sun and
waggle duration (s), drawn as duration * (cos, sin).  Three forage patches
(lime avenue, heather moor, clover field) give three lobes.

Model: EDM-style denoiser (Karras et al. 2022 preconditioning) trained with
log-normal noise levels; samples drawn with the deterministic Heun sampler
from a power-function EMA of the weights.  Training is split in two sessions
with a checkpoint written to disk and read back in between.
"""

import json
import math
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
PATCHES = [  # bearing deg, mean duration s, bearing spread deg, duration cv, share
    (35.0, 0.9, 9.0, 0.12, 0.45),
    (150.0, 2.3, 6.0, 0.08, 0.35),
    (275.0, 3.4, 4.0, 0.06, 0.20),
]


def dance_runs(n):
    share = np.array([p[4] for p in PATCHES])
    which = rng.choice(len(PATCHES), size=n, p=share / share.sum())
    out = np.empty((n, 2), dtype=np.float32)
    for k, (bear, dur, bsd, cv, _) in enumerate(PATCHES):
        idx = np.flatnonzero(which == k)
        ang = np.deg2rad(bear + rng.normal(0, bsd, idx.size))
        d = dur * np.exp(rng.normal(0, cv, idx.size))
        out[idx, 0] = d * np.cos(ang)
        out[idx, 1] = d * np.sin(ang)
    return out, which


train_np, _ = dance_runs(12000)
held_np, _ = dance_runs(1000)
floor_np, _ = dance_runs(1000)  # a second fresh draw: the two-sample floor
mu = train_np.mean(0)
scale = train_np.std()
SIGMA_DATA = 0.5
to_model = lambda a: ((a - mu) / scale * SIGMA_DATA).astype(np.float32)
from_model = lambda a: a / SIGMA_DATA * scale + mu
train = mx.array(to_model(train_np))
held = mx.array(to_model(held_np))

# ---------------------------------------------------------------- model
P_MEAN, P_STD = -1.2, 1.2


class FourierNoise(nn.Module):
    def __init__(self, n=16):
        super().__init__()
        g = np.random.default_rng(5).normal(0, 1, (n // 2,)).astype(np.float32)
        self._freq = mx.array(g)  # constant, not trained

    def __call__(self, c_noise):
        a = 2 * math.pi * c_noise[:, None] * self._freq[None, :]
        return mx.concatenate([mx.cos(a), mx.sin(a)], axis=-1)


class Denoiser(nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)."""

    def __init__(self, width=64):
        super().__init__()
        self.embed = FourierNoise(16)
        self.inp = nn.Linear(2 + 16, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 2)

    def raw(self, x_in, c_noise):
        h = nn.silu(self.inp(mx.concatenate([x_in, self.embed(c_noise)], -1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)

    @staticmethod
    def coeffs(sigma):
        s2, d2 = sigma * sigma, SIGMA_DATA * SIGMA_DATA
        c_skip = d2 / (s2 + d2)
        c_out = sigma * SIGMA_DATA / mx.sqrt(s2 + d2)
        c_in = 1.0 / mx.sqrt(s2 + d2)
        c_noise = mx.log(sigma) / 4.0
        return c_skip, c_out, c_in, c_noise

    def __call__(self, x, sigma):
        c_skip, c_out, c_in, c_noise = self.coeffs(sigma)
        return c_skip[:, None] * x + c_out[:, None] * self.raw(c_in[:, None] * x, c_noise)


def weighted_err(model, y, sigma, eps):
    """EDM loss per example: lambda(sigma) * |D(y + sigma eps) - y|^2 / 2 dims."""
    x = y + sigma[:, None] * eps
    d = model(x, sigma)
    lam = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
    return lam * mx.mean((d - y) ** 2, axis=-1)


def loss_fn(model, y):
    sigma = mx.exp(P_MEAN + P_STD * mx.random.normal((y.shape[0],)))
    eps = mx.random.normal(y.shape)
    per = weighted_err(model, y, sigma, eps)
    return per.mean(), (per, sigma)


# held-out probe: frozen noise draws at a constant sigma grid
SIG_GRID = np.exp(np.linspace(math.log(0.01), math.log(8.0), 6)).astype(np.float32)
probe_key = mx.random.key(2024)
probe_eps = mx.random.normal((len(SIG_GRID),) + held.shape, key=probe_key)


def heldout_loss(model):
    tot = []
    for i, s in enumerate(SIG_GRID):
        sig = mx.full((held.shape[0],), float(s))
        tot.append(weighted_err(model, held, sig, probe_eps[i]).mean())
    v = mx.stack(tot)
    mx.eval(v)
    return float(v.mean()), np.array(v)


def heun_sample(model, n, key, steps=12, s_min=0.002, s_max=20.0, rho=7.0):
    i = np.arange(steps)
    t = (s_max ** (1 / rho) + i / (steps - 1) * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
    t = np.append(t, 0.0).astype(np.float32)
    x = mx.random.normal((n, 2), key=key) * float(t[0])
    for k in range(steps):
        tc, tn = float(t[k]), float(t[k + 1])
        d = (x - model(x, mx.full((n,), tc))) / tc
        xn = x + (tn - tc) * d
        if tn > 0:
            d2 = (xn - model(xn, mx.full((n,), tn))) / tn
            xn = x + (tn - tc) * 0.5 * (d + d2)
        x = xn
    mx.eval(x)
    return np.array(x)


proj_rng = np.random.default_rng(99)
PROJ = proj_rng.normal(size=(2, 64))
PROJ /= np.linalg.norm(PROJ, axis=0, keepdims=True)


def sliced_w1(a, b):
    pa, pb = np.sort(a @ PROJ, axis=0), np.sort(b @ PROJ, axis=0)
    return float(np.abs(pa - pb).mean())


def in_patch_share(pts):
    dur = np.linalg.norm(pts, axis=1)
    ang = np.rad2deg(np.arctan2(pts[:, 1], pts[:, 0])) % 360
    ok = np.zeros(len(pts), bool)
    for bear, d, bsd, cv, _ in PATCHES:
        da = np.abs((ang - bear + 180) % 360 - 180)
        ok |= (da < 3 * bsd) & (np.abs(np.log(np.maximum(dur, 1e-6) / d)) < 3 * cv)
    return 100.0 * ok.mean()


gauss_np = rng.multivariate_normal(train_np.mean(0), np.cov(train_np.T), 1000)
SWD_GAUSS = sliced_w1(gauss_np, held_np)
SWD_FLOOR = sliced_w1(floor_np, held_np)

# ---------------------------------------------------------------- training pieces
TOTAL, SPLIT, BATCH = 1600, 800, 128
LR_REF, T_REF = 3e-3, 250.0
EMA_GAMMA = 6.94  # power-function EMA profile


def lr_at(step):  # inverse square-root decay after T_REF
    return LR_REF / math.sqrt(max(step / T_REF, 1.0))


def build(lr_value):
    model = Denoiser()
    opt = optim.Adam(learning_rate=lr_value, bias_correction=True)
    return model, opt


def make_step(model, opt):
    lg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(y):
        (loss, (per, sigma)), grads = lg(model, y)
        opt.update(model, grads)
        return loss, per, sigma

    return step


def ema_update(ema, params, t):
    beta = (1.0 - 1.0 / t) ** (EMA_GAMMA + 1.0)
    return tree_map(lambda e, p: beta * e + (1.0 - beta) * p, ema, params)


COLS = ["step", "lr", "loss_win", "loss_sig<0.1", "loss_sig>1", "heldout_live",
        "heldout_ema", "swd_ema", "swd_gauss", "swd_floor", "in_patch_pct", "secs"]
print(f"# waggle runs: train {train.shape[0]}  held-out {held.shape[0]}  sigma_data {SIGMA_DATA}")
print(f"# baselines: sliced-W1 of a moment-matched Gaussian {SWD_GAUSS:.4f}, "
      f"of a fresh real draw {SWD_FLOOR:.4f}; real in-patch share {in_patch_share(held_np):.1f}%")
print(",".join(COLS))

t0 = time.time()
window = {"loss": [], "lo": [], "hi": []}
probe_model = Denoiser()


def report(step, model, ema, lr_used):
    live, _ = heldout_loss(model)
    probe_model.update(ema)
    ema_l, _ = heldout_loss(probe_model)
    samp = from_model(heun_sample(probe_model, 1000, mx.random.key(7 + step)))
    row = [step, f"{lr_used:.2e}",
           f"{np.mean(window['loss']):.4f}" if window["loss"] else "",
           f"{np.mean(window['lo']):.4f}" if window["lo"] else "",
           f"{np.mean(window['hi']):.4f}" if window["hi"] else "",
           f"{live:.4f}", f"{ema_l:.4f}", f"{sliced_w1(samp, held_np):.4f}",
           f"{SWD_GAUSS:.4f}", f"{SWD_FLOOR:.4f}", f"{in_patch_share(samp):.1f}",
           f"{time.time() - t0:.1f}"]
    print(",".join(str(v) for v in row), flush=True)
    for k in window:
        window[k].clear()


def run_session(model, opt, ema, first, last):
    step_fn = make_step(model, opt)
    for step in range(first, last + 1):
        lr_used = lr_at(step)
        opt.learning_rate = mx.array(lr_used)
        idx = mx.array(rng.integers(0, train.shape[0], BATCH))
        loss, per, sigma = step_fn(train[idx])
        ema = ema_update(ema, model.trainable_parameters(), step)
        mx.eval(loss, per, sigma, model.parameters(), opt.state, ema)
        per_np, sig_np = np.array(per), np.array(sigma)
        window["loss"].append(float(loss))
        if (sig_np < 0.1).any():
            window["lo"].append(float(per_np[sig_np < 0.1].mean()))
        if (sig_np > 1.0).any():
            window["hi"].append(float(per_np[sig_np > 1.0].mean()))
        if step == 1 or step % 200 == 0:
            report(step, model, ema, lr_used)
    return ema


# session 1
model, opt = build(lr_at(1))
mx.eval(model.parameters())
report(0, model, model.trainable_parameters(), lr_at(1))
ema = tree_map(lambda p: mx.array(p), model.trainable_parameters())
ema = run_session(model, opt, ema, 1, SPLIT)

ckpt_dir = tempfile.TemporaryDirectory()
ckpt = ckpt_dir.name
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
mx.save_safetensors(os.path.join(ckpt, "ema.safetensors"), dict(tree_flatten(ema)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"step": SPLIT}, f)
before, _ = heldout_loss(model)
del model, opt, ema

# session 2: fresh objects, everything read back from disk
model, opt = build(lr_at(SPLIT + 1))
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
ema = tree_unflatten(list(mx.load(os.path.join(ckpt, "ema.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    resume_at = json.load(f)["step"] + 1
after, _ = heldout_loss(model)
print(f"# checkpoint {ckpt}: resumed at step {resume_at}, held-out before {before:.5f} after {after:.5f}")
ema = run_session(model, opt, ema, resume_at, TOTAL)

probe_model.update(ema)
_, per_sig = heldout_loss(probe_model)
ckpt_dir.cleanup()
print("# held-out EDM loss per sigma (ema): " +
      " ".join(f"{s:.3g}:{v:.3f}" for s, v in zip(SIG_GRID, per_sig)))
final = from_model(heun_sample(probe_model, 2000, mx.random.key(123)))
print(f"# final: sliced-W1 {sliced_w1(final[:1000], held_np):.4f} (gaussian {SWD_GAUSS:.4f}, "
      f"floor {SWD_FLOOR:.4f}), in-patch {in_patch_share(final):.1f}%, "
      f"{time.time() - t0:.1f}s")
