"""Bonspiel scouting: learn where curling stones come to rest in the house.

A small DDPM with self-conditioning (Chen et al., "Analog Bits"): on half of the
batch the network first guesses x0 without help, that guess is held constant
(stop_gradient) and fed back as an extra input for the real prediction.
Sampling feeds each step's x0 estimate into the next step.
An EMA copy of the weights (decay warmed up as (1+n)/(10+n), capped at 0.995)
is used for held-out scoring and for sampling.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(20)
mx.random.seed(20)


def throw_stones(n, rng):
    """Rest positions (feet, button at 0,0; y positive towards the hog line)."""
    kind = rng.choice(4, size=n, p=[0.45, 0.25, 0.2, 0.1])
    out = np.zeros((n, 2))
    # draws to the four-foot: tight around the button, slight curl bias
    m = kind == 0
    out[m] = rng.normal([0.3, 0.4], [0.9, 1.1], size=(m.sum(), 2))
    # centre-line guards: out in front of the house
    m = kind == 1
    out[m] = np.c_[rng.normal(0.0, 0.8, m.sum()), rng.normal(9.0, 1.2, m.sum())]
    # takeout shooters rolling to rest on the back eight-foot ring
    m = kind == 2
    ang = rng.uniform(-2.4, -0.7, m.sum())
    r = rng.normal(4.0, 0.25, m.sum())
    out[m] = np.c_[r * np.cos(ang), r * np.sin(ang)]
    # corner guards, left side
    m = kind == 3
    out[m] = rng.normal([-4.5, 7.0], [0.6, 0.8], size=(m.sum(), 2))
    return out


train_np = throw_stones(24000, rng)
held_np = throw_stones(2000, rng)
fresh_np = throw_stones(2000, rng)
mu, sd = train_np.mean(0), train_np.std(0)
norm = lambda a: (a - mu) / sd
train_x = mx.array(norm(train_np), dtype=mx.float32)
held_x = mx.array(norm(held_np), dtype=mx.float32)

T = 60
betas = np.linspace(1e-4, 0.12, T)
abar = np.cumprod(1.0 - betas)
sqrt_ab = mx.array(np.sqrt(abar), dtype=mx.float32)
sqrt_1mab = mx.array(np.sqrt(1.0 - abar), dtype=mx.float32)


class Denoiser(nn.Module):
    def __init__(self, width=64, nfreq=8):
        super().__init__()
        self._freqs = mx.exp(-math.log(200.0) * mx.arange(nfreq) / nfreq)
        self.inp = nn.Linear(2 + 2 + 2 * nfreq, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 2)

    def __call__(self, xt, x0_hint, t):
        ang = t[:, None].astype(mx.float32) * self._freqs[None, :]
        feats = mx.concatenate([xt, x0_hint, mx.sin(ang), mx.cos(ang)], axis=1)
        h = nn.silu(self.inp(feats))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


def x0_from_eps(xt, eps, t):
    a = sqrt_ab[t][:, None]
    s = sqrt_1mab[t][:, None]
    return mx.clip((xt - s * eps) / a, -4.0, 4.0)


def loss_fn(model, x0, t, noise, sc_mask):
    xt = sqrt_ab[t][:, None] * x0 + sqrt_1mab[t][:, None] * noise
    first = model(xt, mx.zeros_like(x0), t)
    hint = mx.stop_gradient(x0_from_eps(xt, first, t)) * sc_mask[:, None]
    eps = model(xt, hint, t)
    return mx.mean(mx.square(eps - noise))


model = Denoiser()
mx.eval(model.parameters())
ema_model = Denoiser()
ema_model.update(model.parameters())
mx.eval(ema_model.parameters())

steps, batch, warm, peak = 1500, 192, 100, 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, loss_fn)

# one frozen held-out draw of (t, noise, mask) so the held-out numbers are comparable
kt, kn, km = mx.random.split(mx.random.key(7), 3)
held_t = mx.random.randint(0, T, (held_x.shape[0],), key=kt)
held_noise = mx.random.normal(held_x.shape, key=kn)
held_mask = (mx.random.uniform(shape=(held_x.shape[0],), key=km) < 0.5).astype(mx.float32)


def held_loss(m):
    return loss_fn(m, held_x, held_t, held_noise, held_mask).item()


def sample(m, n, key):
    keys = mx.random.split(key, T + 1)
    x = mx.random.normal((n, 2), key=keys[0])
    hint = mx.zeros((n, 2))
    for i in reversed(range(T)):
        t = mx.full((n,), i, dtype=mx.int32)
        eps = m(x, hint, t)
        hint = x0_from_eps(x, eps, t)
        b = float(betas[i])
        mean = (x - b / float(np.sqrt(1 - abar[i])) * eps) / math.sqrt(1 - b)
        if i > 0:
            var = b * (1 - abar[i - 1]) / (1 - abar[i])
            x = mean + math.sqrt(var) * mx.random.normal((n, 2), key=keys[i + 1])
        else:
            x = mean
        mx.eval(x, hint)
    return np.array(x) * sd + mu


def sliced_w1(a, b, n_proj=64, seed=0):
    r = np.random.default_rng(seed)
    th = r.uniform(0, np.pi, n_proj)
    dirs = np.c_[np.cos(th), np.sin(th)]
    pa = np.sort(a @ dirs.T, axis=0)
    pb = np.sort(b @ dirs.T, axis=0)
    return float(np.mean(np.abs(pa - pb)))


gauss_np = rng.multivariate_normal(held_np.mean(0), np.cov(held_np.T), size=2000)
sw_floor = sliced_w1(fresh_np, held_np)
sw_gauss = sliced_w1(gauss_np, held_np)

print(f"bonspiel scouting: {len(train_np)} stones to learn, {len(held_np)} held out")
print(f"T={T}  batch={batch}  steps={steps}  AdamW peak lr {peak:g}, warm-up {warm} steps from 0")
print(f"sliced-W1 references (ft): second real draw {sw_floor:.3f} | matched Gaussian {sw_gauss:.3f}")
print("-" * 92)
print(f"{'step':>5} {'lr':>9} {'ema_d':>6} {'train':>7} {'held_raw':>9} {'held_ema':>9} {'d_ema':>8} {'sec':>6}")

report_at = {1, 25, 50, 100, 150, 300, 450, 1300, 1500}
prev_ema = None
run = []
t0 = time.perf_counter()
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, train_x.shape[0], batch))
    x0 = train_x[idx]
    t = mx.array(rng.integers(0, T, batch), dtype=mx.int32)
    noise = mx.array(rng.standard_normal((batch, 2)), dtype=mx.float32)
    sc_mask = mx.array((rng.uniform(size=batch) < 0.5).astype(np.float32))
    lr_now = float(sched(opt.step))
    loss, grads = loss_and_grad(model, x0, t, noise, sc_mask)
    opt.update(model, grads)
    d = min(0.995, (1.0 + step) / (10.0 + step))
    ema_model.update(
        tree_map(lambda e, p: d * e + (1.0 - d) * p, ema_model.parameters(), model.parameters())
    )
    mx.eval(model.parameters(), opt.state, ema_model.parameters(), loss)
    run.append(loss.item())
    if step in report_at:
        hr, he = held_loss(model), held_loss(ema_model)
        delta = "" if prev_ema is None else f"{he - prev_ema:+8.4f}"
        prev_ema = he
        tr = float(np.mean(run[-50:]))
        print(f"{step:5d} {lr_now:9.2e} {d:6.3f} {tr:7.4f} {hr:9.4f} {he:9.4f} {delta:>8} {time.perf_counter() - t0:6.1f}")
    if step in (750, 1500):
        pts = sample(ema_model, 2000, mx.random.key(step))
        sw = sliced_w1(pts, held_np)
        button = np.mean(np.hypot(pts[:, 0], pts[:, 1]) < 2.0) * 100
        ref_button = np.mean(np.hypot(held_np[:, 0], held_np[:, 1]) < 2.0) * 100
        print(
            f"  [scout @ {step}] EMA samples: sliced-W1 {sw:.3f} ft (real {sw_floor:.3f}, gauss {sw_gauss:.3f}); "
            f"in the four-foot {button:.1f}% (held {ref_button:.1f}%)"
        )

print("-" * 92)
print(f"done in {time.perf_counter() - t0:.1f}s; final held eps-MSE raw {held_loss(model):.4f}, ema {held_loss(ema_model):.4f}")
