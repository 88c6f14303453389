"""Paraglider thermal cores over a ridge: a stochastic-interpolant generative model.

x_t = (1 - t) x0 + t x1 + gamma(t) z,  gamma(t) = A t (1 - t)
x0 ~ N(0, I) (noise), x1 = standardised thermal-core position, z ~ N(0, I).

Two heads share one trunk:
  drift    b(t, x)   fitted with the quadratic objective 0.5|b|^2 - b . (x1 - x0 + gamma'(t) z)
  denoiser eta(t, x) fitted with the quadratic objective 0.5|eta|^2 - eta . z
Both objectives are minimised at the conditional expectations and their values are
negative at the optimum (minus half the mean squared norm of that expectation).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

A = 0.8
STEPS = 1000
HALF = 500
BATCH = 256
rng = np.random.default_rng(7)
mx.random.seed(7)


def thermal_cores(n):
    # three cores strung along a ridge, plus a curved lee-side band
    kind = rng.choice(4, size=n, p=[0.3, 0.25, 0.2, 0.25])
    pts = np.zeros((n, 2))
    centres = np.array([[-2.5, 0.6], [0.0, 1.1], [2.4, 0.5]])
    for k in range(3):
        m = kind == k
        pts[m] = centres[k] + rng.normal(size=(m.sum(), 2)) * [0.35, 0.22]
    m = kind == 3
    s = rng.uniform(-2.8, 2.8, size=m.sum())
    pts[m, 0] = s
    pts[m, 1] = -0.9 - 0.18 * s ** 2 + rng.normal(scale=0.12, size=m.sum())
    return pts


train_raw = thermal_cores(20000)
held_raw = thermal_cores(2000)
mu, sd = train_raw.mean(0), train_raw.std(0)
train = mx.array(((train_raw - mu) / sd).astype(np.float32))
held = ((held_raw - mu) / sd).astype(np.float32)


class TwoHeadNet(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self._freqs = mx.array([1.0, 2.0, 4.0, 8.0, 16.0]) * np.pi
        self.inp = nn.Linear(2 + 10, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.drift = nn.Linear(width, 2)
        self.denoise = nn.Linear(width, 2)

    def __call__(self, t, x):
        ang = t[:, None] * self._freqs[None, :]
        h = nn.silu(self.inp(mx.concatenate([x, mx.sin(ang), mx.cos(ang)], axis=1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.drift(h), self.denoise(h)


def objectives(model, x1, x0, z, t):
    g = A * t * (1 - t)
    dg = A * (1 - 2 * t)
    xt = (1 - t)[:, None] * x0 + t[:, None] * x1 + g[:, None] * z
    b, eta = model(t, xt)
    target = x1 - x0 + dg[:, None] * z
    lb = mx.mean(mx.sum(0.5 * b * b - b * target, axis=1))
    le = mx.mean(mx.sum(0.5 * eta * eta - eta * z, axis=1))
    return lb + le, (lb, le)


def loss_fn(model, x1, x0, z, t):
    total, _ = objectives(model, x1, x0, z, t)
    return total


def energy_distance(a, b, n=1000):
    a = a[:n]
    b = b[:n]
    def md(u, v):
        return np.sqrt(((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)).mean()
    return 2 * md(a, b) - md(a, a) - md(b, b)


def sample_ode(model, n=1000, steps=60):
    x = mx.random.normal((n, 2))
    dt = 1.0 / steps
    for i in range(steps):
        t = mx.full((n,), (i + 0.5) * dt)
        b, _ = model(t, x)
        x = x + dt * b
    mx.eval(x)
    return np.array(x)


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 150), optim.cosine_decay(2e-3, STEPS - 150, 1e-4)],
        [150])
    return optim.Adam(learning_rate=sched)


def ema_update(ema, params, decay=0.995):
    return tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, params)


def run_segment(model, opt, ema, start, stop, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = train.shape[0]
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, BATCH))
        x1 = train[idx]
        x0 = mx.random.normal(x1.shape)
        z = mx.random.normal(x1.shape)
        t = mx.random.uniform(shape=(BATCH,))
        loss, grads = step_fn(model, x1, x0, z, t)
        opt.update(model, grads)
        ema = ema_update(ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema, loss)
        if step % 200 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            print(f"[{tag}] step {step:5d}  objective {loss.item():+.4f}  lr {lr:.2e}")
    return ema


def held_objectives(model):
    hm = mx.array(held)
    key = mx.random.key(123)
    k0, k1, k2 = mx.random.split(key, 3)
    x0 = mx.random.normal(hm.shape, key=k0)
    z = mx.random.normal(hm.shape, key=k1)
    t = mx.random.uniform(shape=(hm.shape[0],), key=k2)
    _, (lb, le) = objectives(model, hm, x0, z, t)
    return lb.item(), le.item()


t0 = time.time()
model = TwoHeadNet()
mx.eval(model.parameters())
opt = make_optimizer()
ema = tree_map(lambda p: p, model.parameters())
print(f"train {train.shape[0]}  held-out {held.shape[0]}  params "
      f"{sum(v.size for _, v in tree_flatten(model.parameters()))}")
ema = run_segment(model, opt, ema, 0, HALF, "session 1")

ckpt = tempfile.mkdtemp("_thermal_ckpt")
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "ema.safetensors"), dict(tree_flatten(ema)))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after step {HALF - 1}; session 1 ends")

# session 2: fresh objects restored from disk
model = TwoHeadNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
ema = tree_unflatten(list(mx.load(os.path.join(ckpt, "ema.safetensors")).items()))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"session 2 resumes at step {int(opt.state['step'].item())}  lr {opt.learning_rate.item():.2e}")
ema = run_segment(model, opt, ema, HALF, STEPS, "session 2")

raw_lb, raw_le = held_objectives(model)
ema_model = TwoHeadNet()
ema_model.update(ema)
ema_lb, ema_le = held_objectives(ema_model)
print(f"held-out drift objective  raw {raw_lb:+.4f}  ema {ema_lb:+.4f}")
print(f"held-out denoiser objective raw {raw_le:+.4f}  ema {ema_le:+.4f}")

samples_raw = sample_ode(model)
samples_ema = sample_ode(ema_model)
gauss = rng.multivariate_normal(np.zeros(2), np.cov(np.array(train).T), size=1000).astype(np.float32)
floor = energy_distance(np.array(train)[rng.permutation(20000)[:1000]], held)
print(f"energy distance to held-out: ema samples {energy_distance(samples_ema, held):.4f}  "
      f"raw samples {energy_distance(samples_raw, held):.4f}  "
      f"single-Gaussian baseline {energy_distance(gauss, held):.4f}  "
      f"train-vs-held floor {floor:.4f}")
lee = (samples_ema[:, 1] < -0.6).mean()
print(f"share of samples in lee band: ema {lee:.3f}  data {(held[:, 1] < -0.6).mean():.3f}")
print(f"done in {time.time() - t0:.1f}s")
