"""Open-air lido water temperature: 24 h ahead forecast from 72 h of readings.

Four municipal lidos, hourly pool-water temperature over a 150-day season
(synthetic: seasonal arc, sun-driven daily heating scaled by cloud cover,
night cover on/off, cold rain events, probe noise 0.05 C).

Model: a small N-HiTS (three stacks; inputs max-pooled at rates 8/4/1, each
stack emits a coarse forecast that is linearly interpolated to 24 steps and a
backcast that is removed from the input). Adam under SGDR (warm restarts every
200 steps, so the learning rate jumps back up at steps 200 and 400).

The run is split in two sessions: after session A the weights and optimizer
state go to a checkpoint directory, everything is rebuilt from scratch, the
checkpoint is loaded, and session B continues from the same step.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LOOKBACK, HORIZON = 72, 24
N_POOLS, HOURS = 4, 24 * 150


def make_pool(seed):
    r = np.random.default_rng(seed)
    h = np.arange(HOURS)
    day = h / 24.0
    arc = 18.0 + 6.0 * np.sin(np.pi * day / 150.0) + r.uniform(-1, 1)
    cloud = np.clip(np.repeat(r.beta(2, 2, 150), 24), 0, 1)
    sun = np.clip(np.sin(2 * np.pi * ((h % 24) - 6) / 24.0), 0, None)
    temp = np.zeros(HOURS)
    t = arc[0]
    covered = (h % 24 >= 21) | (h % 24 < 7)
    rain = r.random(HOURS) < 0.004
    for i in range(HOURS):
        heat = 0.22 * sun[i] * (1.0 - 0.7 * cloud[i])
        loss = (0.012 if covered[i] else 0.03) * (t - arc[i] + 2.0)
        t = t + heat - loss - (0.6 if rain[i] else 0.0)
        temp[i] = t
    return temp + r.normal(0, 0.05, HOURS)


series = np.stack([make_pool(300 + i) for i in range(N_POOLS)]).astype(np.float32)
split = int(HOURS * 0.8)
mu, sd = series[:, :split].mean(), series[:, :split].std()


def windows(lo, hi, stride):
    xs, ys = [], []
    for s in series:
        seg = s[lo:hi]
        for t in range(0, len(seg) - LOOKBACK - HORIZON + 1, stride):
            xs.append(seg[t:t + LOOKBACK])
            ys.append(seg[t + LOOKBACK:t + LOOKBACK + HORIZON])
    return np.array(xs), np.array(ys)


xtr, ytr = windows(0, split, 1)
xva, yva = windows(split - LOOKBACK, HOURS, 3)
ztr, zytr = (xtr - mu) / sd, (ytr - mu) / sd
xva_m = mx.array((xva - mu) / sd)
persist_mae = np.abs(xva[:, -1:] - yva).mean()
yday_mae = np.abs(xva[:, -24:] - yva).mean()
print(f"train windows {len(xtr)}  val windows {len(xva)}  water mean {mu:.2f} C sd {sd:.2f}")
print(f"baselines: persistence MAE {persist_mae:.3f} C  same-hour-yesterday MAE {yday_mae:.3f} C  probe-noise floor ~0.04 C")


def interp_matrix(n_in, n_out):
    pos = np.linspace(0, n_in - 1, n_out)
    m = np.zeros((n_in, n_out), np.float32)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = pos - lo
    m[lo, np.arange(n_out)] += 1 - w
    m[hi, np.arange(n_out)] += w
    return mx.array(m)


class Stack(nn.Module):
    def __init__(self, pool, n_coarse, width=128):
        super().__init__()
        self.pool = pool
        self.n_coarse = n_coarse
        self.mlp = nn.Sequential(
            nn.Linear(LOOKBACK // pool, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU()
        )
        self.to_fore = nn.Linear(width, n_coarse)
        self.to_back = nn.Linear(width, LOOKBACK)
        self._up = interp_matrix(n_coarse, HORIZON)

    def __call__(self, x):
        B = x.shape[0]
        pooled = x.reshape(B, LOOKBACK // self.pool, self.pool).max(axis=2)
        h = self.mlp(pooled)
        return self.to_back(h), self.to_fore(h) @ self._up


class NHiTS(nn.Module):
    def __init__(self):
        super().__init__()
        self.stacks = [Stack(8, 3), Stack(4, 8), Stack(1, 24)]

    def __call__(self, x):
        level = x[:, -1:]
        resid = x - level
        fore = mx.zeros((x.shape[0], HORIZON))
        for s in self.stacks:
            back, f = s(resid)
            resid = resid - back
            fore = fore + f
        return fore + level


def make_schedule():
    cyc = [optim.cosine_decay(1e-3, 200, 2e-5) for _ in range(3)]
    return optim.join_schedules(cyc, [200, 400])


def loss_fn(m, x, y):
    return mx.abs(m(x) - y).mean()


def val_mae(m):
    return np.abs(np.array(m(xva_m)) * sd + mu - yva).mean()


def run(model, opt, first, last, rng, log_every):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(first, last + 1):
        idx = rng.integers(0, len(ztr), 128)
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, mx.array(ztr[idx]), mx.array(zytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0:
            print(f"step {step:4d} lr {lr_now:.2e} train L1 {loss.item() * sd:.3f} C")
        if step % 150 == 0:
            print(f"  val MAE {val_mae(model):.3f} C")


t0 = time.time()
mx.random.seed(11)
rng = np.random.default_rng(11)
model = NHiTS()
opt = optim.Adam(learning_rate=make_schedule())
mx.eval(model.parameters())
print(f"untrained val MAE {val_mae(model):.3f} C")
print("-- session A --")
run(model, opt, 1, 300, rng, 25)
before = val_mae(model)

ckpt = tempfile.mkdtemp(prefix="lido_ckpt_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written to {ckpt} (val MAE {before:.3f} C)")
del model, opt

model = NHiTS()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = optim.Adam(learning_rate=make_schedule())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = val_mae(model)
print(f"-- session B -- resumed at optimizer step {opt.state['step'].item()}  val MAE {after:.3f} C (was {before:.3f})")
run(model, opt, 301, 600, np.random.default_rng(12), 100)

final = val_mae(model)
print(f"final val MAE {final:.3f} C | persistence {persist_mae:.3f} | yesterday {yday_mae:.3f}")
print(f"skill vs persistence {1 - final / persist_mae:+.3f}  ({time.time() - t0:.1f}s)")
shutil.rmtree(ckpt)
