# Harbour staff-gauge nowcast: predict the next 10-minute water level from the
# levels seen so far.  Two stacked complex-diagonal linear recurrent units
# (LRU, Orvieto et al. 2023) whose recurrence is evaluated with a Hillis-Steele
# parallel doubling scan over (decay, input) pairs.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
rng = np.random.default_rng(7)

STEP_H = 10.0 / 60.0          # 10 minutes per sample
M2, S2 = 12.4206, 12.0        # tidal constituent periods in hours


def make_tides(n, length, surge_sd):
    """n synthetic gauge records: two tidal constituents + AR(1) wind set-up + reading noise."""
    t = np.arange(length + 1) * STEP_H
    amp_m2 = rng.uniform(0.8, 1.6, (n, 1))
    amp_s2 = rng.uniform(0.2, 0.5, (n, 1))
    ph1 = rng.uniform(0, 2 * np.pi, (n, 1))
    ph2 = rng.uniform(0, 2 * np.pi, (n, 1))
    tide = amp_m2 * np.cos(2 * np.pi * t / M2 + ph1) + amp_s2 * np.cos(2 * np.pi * t / S2 + ph2)
    surge = np.zeros((n, length + 1))
    innov = rng.normal(0, surge_sd, (n, length + 1))
    for k in range(1, length + 1):
        surge[:, k] = 0.97 * surge[:, k - 1] + innov[:, k]
    level = tide + surge + rng.normal(0, 0.03, (n, length + 1))
    x = level[:, :-1, None].astype(np.float32)
    y = level[:, 1:, None].astype(np.float32)
    return x, y


def scan_pairs(ar, ai, br, bi):
    """Inclusive scan of h_t = a_t * h_{t-1} + b_t along axis 1 (complex, split into re/im)."""
    L = ar.shape[1]
    d = 1
    while d < L:
        pad = [(0, 0), (d, 0), (0, 0)]
        par = mx.pad(ar[:, :-d], pad, constant_values=1.0)
        pai = mx.pad(ai[:, :-d], pad)
        pbr = mx.pad(br[:, :-d], pad)
        pbi = mx.pad(bi[:, :-d], pad)
        # (a_prev, b_prev) then (a, b):  a <- a * a_prev,  b <- a * b_prev + b
        nbr = ar * pbr - ai * pbi + br
        nbi = ar * pbi + ai * pbr + bi
        nar = ar * par - ai * pai
        nai = ar * pai + ai * par
        ar, ai, br, bi = nar, nai, nbr, nbi
        d *= 2
    return br, bi


def scan_loop(ar, ai, br, bi):
    hr = mx.zeros_like(br[:, 0])
    hi = mx.zeros_like(bi[:, 0])
    outs_r, outs_i = [], []
    for t in range(ar.shape[1]):
        hr, hi = ar[:, t] * hr - ai[:, t] * hi + br[:, t], ar[:, t] * hi + ai[:, t] * hr + bi[:, t]
        outs_r.append(hr)
        outs_i.append(hi)
    return mx.stack(outs_r, 1), mx.stack(outs_i, 1)


class LRU(nn.Module):
    def __init__(self, d_model, n_state, r_min=0.6, r_max=0.995):
        super().__init__()
        u1 = mx.random.uniform(shape=(n_state,))
        u2 = mx.random.uniform(shape=(n_state,))
        self.nu_log = mx.log(-0.5 * mx.log(u1 * (r_max**2 - r_min**2) + r_min**2))
        self.theta_log = mx.log(u2 * math.pi * 0.25 + 1e-3)
        s = 1.0 / math.sqrt(2 * d_model)
        self.B_re = mx.random.normal((d_model, n_state)) * s
        self.B_im = mx.random.normal((d_model, n_state)) * s
        c = 1.0 / math.sqrt(n_state)
        self.C_re = mx.random.normal((n_state, d_model)) * c
        self.C_im = mx.random.normal((n_state, d_model)) * c
        self.D = mx.random.normal((d_model,)) * 0.1

    def decay(self):
        mod = mx.exp(-mx.exp(self.nu_log))
        ang = mx.exp(self.theta_log)
        return mod, ang

    def __call__(self, u):
        mod, ang = self.decay()
        gamma = mx.sqrt(1.0 - mod**2)
        br = (u @ self.B_re) * gamma
        bi = (u @ self.B_im) * gamma
        ar = mx.broadcast_to(mod * mx.cos(ang), br.shape)
        ai = mx.broadcast_to(mod * mx.sin(ang), bi.shape)
        hr, hi = scan_pairs(ar, ai, br, bi)
        return hr @ self.C_re - hi @ self.C_im + u * self.D


class Block(nn.Module):
    def __init__(self, d_model, n_state):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.lru = LRU(d_model, n_state)
        self.mix = nn.Linear(d_model, d_model)

    def __call__(self, x):
        return x + self.mix(nn.gelu(self.lru(self.norm(x))))


class GaugeNet(nn.Module):
    def __init__(self, d_model=24, n_state=16):
        super().__init__()
        self.inp = nn.Linear(1, d_model)
        self.blocks = [Block(d_model, n_state) for _ in range(2)]
        self.out = nn.Linear(d_model, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = GaugeNet()
mx.eval(model.parameters())

# the doubling scan must agree with the step-by-step recurrence
probe = [mx.random.normal((3, 50, 8)) * 0.5 for _ in range(4)]
sr, si = scan_pairs(*probe)
lr_, li_ = scan_loop(*probe)
gap = max(mx.abs(sr - lr_).max().item(), mx.abs(si - li_).max().item())
print(f"scan check: doubling scan vs loop, max |diff| = {gap:.2e}")

n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"gauge net: {n_params} trainable parameters")

TOTAL, WARM, STAGE2 = 360, 50, 180
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM]
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

# stage 1: calm weather (small wind set-up); stage 2: stormy weeks (larger set-up)
val_calm = make_tides(96, 96, 0.010)
val_storm = make_tides(96, 96, 0.035)


def evaluate(xy):
    x, y = mx.array(xy[0]), mx.array(xy[1])
    pred = model(x)
    mse = nn.losses.mse_loss(pred, y).item()
    persist = nn.losses.mse_loss(x, y).item()
    return mse, persist


t0 = time.time()
running = []
for step in range(1, TOTAL + 1):
    stormy = step > STAGE2
    if step == STAGE2 + 1:
        print("-- stage 2: stormy weeks, wind set-up sd 0.010 -> 0.035 m; longer records 64 -> 96")
    x_np, y_np = make_tides(16, 96 if stormy else 64, 0.035 if stormy else 0.010)
    loss, grads = step_fn(model, mx.array(x_np), mx.array(y_np))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running.append(loss.item())
    if step == 1 or step % 45 == 0:
        cm, cp = evaluate(val_calm)
        sm, sp = evaluate(val_storm)
        lr_now = schedule(mx.array(step - 1)).item()
        print(
            f"step {step:4d}  lr {lr_now:.2e}  train_mse {np.mean(running):.5f}  "
            f"calm val {cm:.5f} (persistence {cp:.5f}, skill {100*(1-cm/cp):5.1f}%)  "
            f"storm val {sm:.5f} (persistence {sp:.5f}, skill {100*(1-sm/sp):5.1f}%)"
        )
        running = []

mod, ang = model.blocks[0].lru.decay()
half_life = (-math.log(2) / mx.log(mx.max(mod))).item() * STEP_H
print(f"slowest mode of block 0: |lambda| {mx.max(mod).item():.4f}, half-life {half_life:.1f} h")
print(f"done in {time.time()-t0:.1f}s")
