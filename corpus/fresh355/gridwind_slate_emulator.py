"""Regional 12x12 grid emulator: near-surface temperature (K) and specific humidity (g/kg).

A small periodic-domain CNN learns the 1-hour tendency of a synthetic advection-diffusion
"weather" model. Inputs and tendencies are standardised with per-channel statistics taken
from the training trajectories only. Training runs in three rollout stages (1, 2, then 3
autoregressive steps in the loss); each stage restarts its learning rate from 0. Between
stage 2 and stage 3 the run is checkpointed, torn down and resumed from disk.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

H = W = 12
C = 2
rng = np.random.default_rng(7)
mx.random.seed(7)


# ---------------------------------------------------------------- synthetic "truth" model
yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
lat = (yy - H / 2 + 0.5) / H * 60.0  # fake latitudes -30..30
T_clim = 288.0 - 0.35 * np.abs(lat) + 2.0 * np.cos(2 * np.pi * xx / W)
Q_clim = 9.0 + 3.0 * np.cos(np.pi * lat / 60.0) + 0.8 * np.sin(2 * np.pi * xx / W)


def lap(f):
    return (np.roll(f, 1, -1) + np.roll(f, -1, -1) + np.roll(f, 1, -2) + np.roll(f, -1, -2) - 4 * f)


def truth_step(T, Q):
    cu, cv = 0.35, 0.15  # upwind Courant numbers (wind from west and south)
    adv = lambda f: f - cu * (f - np.roll(f, 1, -1)) - cv * (f - np.roll(f, 1, -2))
    Tn = adv(T) + 0.08 * lap(T) - 0.05 * (T - T_clim)
    Qn = adv(Q) + 0.05 * lap(Q) - 0.04 * (Q - Q_clim)
    rain = np.maximum(Qn - (Q_clim + 2.5), 0.0)  # condensation heats the air
    Qn = Qn - 0.5 * rain
    Tn = Tn + 0.9 * rain
    return Tn, Qn


def make_trajs(n, steps):
    T = T_clim + rng.normal(0, 2.5, (n, H, W))
    Q = Q_clim + rng.normal(0, 1.6, (n, H, W))
    for _ in range(3):  # smooth the initial anomalies
        T = T + 0.2 * lap(T)
        Q = Q + 0.2 * lap(Q)
    out = np.zeros((n, steps + 1, H, W, C), np.float32)
    out[:, 0, ..., 0], out[:, 0, ..., 1] = T, Q
    for t in range(steps):
        T, Q = truth_step(T, Q)
        T = T + rng.normal(0, 0.03, T.shape)
        Q = Q + rng.normal(0, 0.02, Q.shape)
        out[:, t + 1, ..., 0], out[:, t + 1, ..., 1] = T, Q
    return out


train = make_trajs(240, 12)
valid = make_trajs(40, 8)

# per-channel statistics from the training split only
state_mean = train.reshape(-1, C).mean(0)
state_std = train.reshape(-1, C).std(0)
delta = (train[:, 1:] - train[:, :-1]).reshape(-1, C)
tend_mean = delta.mean(0)
tend_std = delta.std(0)
climatology = train.mean(axis=(0, 1))  # (H, W, C)

S_MEAN, S_STD = mx.array(state_mean), mx.array(state_std)
D_MEAN, D_STD = mx.array(tend_mean), mx.array(tend_std)
train_mx = mx.array(train)
valid_mx = mx.array(valid)
coslat = mx.array(np.cos(np.deg2rad(lat)).astype(np.float32))[None, :, :, None]
coslat = coslat / coslat.mean()


# ---------------------------------------------------------------- model
def wrap_pad(x, p=1):
    x = mx.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
    return mx.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)


class PatchConv(nn.Module):
    """3x3 periodic convolution written as gather-the-neighbours + Linear (im2col)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.proj = nn.Linear(9 * cin, cout)

    def __call__(self, x):
        p = wrap_pad(x)
        cols = [p[:, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)]
        return self.proj(mx.concatenate(cols, axis=-1))


class TendencyNet(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.c1 = PatchConv(C, width)
        self.c2 = PatchConv(width, width)
        self.c3 = PatchConv(width, width)
        self.out = nn.Linear(width, C)

    def __call__(self, x):  # x: normalised state (B, H, W, C)
        h = nn.silu(self.c1(x))
        h = h + nn.silu(self.c2(h))
        h = h + nn.silu(self.c3(h))
        return self.out(h)  # normalised tendency


def step_forward(model, state):
    z = (state - S_MEAN) / S_STD
    return state + model(z) * D_STD + D_MEAN


def rollout_loss(model, x0, targets):
    """targets: (B, K, H, W, C) physical units; loss in standardised-state units."""
    s = x0
    total = 0.0
    K = targets.shape[1]
    for k in range(K):
        s = step_forward(model, s)
        err = (s - targets[:, k]) / S_STD
        total = total + mx.mean(coslat * err * err)
    return total / K


def evaluate(model, leads=(1, 4, 8)):
    s = valid_mx[:, 0]
    out = {}
    for k in range(1, 9):
        s = step_forward(model, s)
        if k in leads:
            e = s - valid_mx[:, k]
            rm = mx.sqrt(mx.mean(e * e, axis=(0, 1, 2)))
            out[k] = np.array(rm)
    return out


def baselines(leads=(1, 4, 8)):
    pers, clim = {}, {}
    for k in leads:
        e = valid[:, k] - valid[:, 0]
        pers[k] = np.sqrt((e ** 2).mean(axis=(0, 1, 2)))
        e = valid[:, k] - climatology
        clim[k] = np.sqrt((e ** 2).mean(axis=(0, 1, 2)))
    return pers, clim


def sample_batch(bs, K):
    i = rng.integers(0, train.shape[0], bs)
    t = rng.integers(0, train.shape[1] - K, bs)
    idx = mx.array(i)
    x0 = train_mx[idx, mx.array(t)]
    tg = mx.stack([train_mx[idx, mx.array(t + k + 1)] for k in range(K)], axis=1)
    return x0, tg


def report(tag, step, lr, loss, model, t0):
    ev = evaluate(model)
    print(f"  {tag:<8} step {step:4d}  lr {lr:.2e}  train {loss:8.5f}  "
          f"T rmse@1/4/8h {ev[1][0]:.3f}/{ev[4][0]:.3f}/{ev[8][0]:.3f} K  "
          f"q rmse@1/4/8h {ev[1][1]:.3f}/{ev[4][1]:.3f}/{ev[8][1]:.3f} g/kg  "
          f"{time.time() - t0:5.1f}s")
    return ev


def run_stage(model, tag, K, steps, peak_lr, t0, bs=16, warm=25):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, steps - warm, peak_lr * 0.1)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    lg = nn.value_and_grad(model, rollout_loss)
    print(f"[{tag}] rollout length {K}, {steps} steps, warm-up 0 -> {peak_lr:g} over {warm} steps")
    window = []
    for step in range(1, steps + 1):
        x0, tg = sample_batch(bs, K)
        lr_now = float(sched(opt.step))
        loss, grads = lg(model, x0, tg)
        if step == 1:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
            print(f"  {tag:<8} gradient leaves non-zero: {nz}/{len(leaves)}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1 or step % 50 == 0:
            report(tag, step, lr_now, float(np.mean(window)), model, t0)
            window = []
    return opt


t0 = time.time()
pers, clim = baselines()
print(f"grid {H}x{W}, channels T,q; train {train.shape[0]}x{train.shape[1]} states, valid {valid.shape[0]} x 8h rollouts")
print(f"stats from train: state mean {state_mean.round(2).tolist()} std {state_std.round(3).tolist()}; "
      f"tendency mean {tend_mean.round(4).tolist()} std {tend_std.round(4).tolist()}")
print("baselines (valid)      T rmse@1/4/8h            q rmse@1/4/8h")
print(f"  persistence          {pers[1][0]:.3f}/{pers[4][0]:.3f}/{pers[8][0]:.3f} K      "
      f"{pers[1][1]:.3f}/{pers[4][1]:.3f}/{pers[8][1]:.3f} g/kg")
print(f"  climatology          {clim[1][0]:.3f}/{clim[4][0]:.3f}/{clim[8][0]:.3f} K      "
      f"{clim[1][1]:.3f}/{clim[4][1]:.3f}/{clim[8][1]:.3f} g/kg")

model = TendencyNet()
mx.eval(model.parameters())
n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"TendencyNet parameters: {n_par}")
report("untrained", 0, 0.0, float("nan"), model, t0)

run_stage(model, "stage1", 1, 200, 3e-3, t0)
opt2 = run_stage(model, "stage2", 2, 100, 1e-3, t0)

# ---- checkpoint, drop everything, resume from disk
with tempfile.TemporaryDirectory() as d:
    wpath = os.path.join(d, "emulator.safetensors")
    model.save_weights(wpath)
    with open(os.path.join(d, "norm.json"), "w") as f:
        json.dump({"state_mean": state_mean.tolist(), "state_std": state_std.tolist(),
                   "tend_mean": tend_mean.tolist(), "tend_std": tend_std.tolist(), "stage": 2}, f)
    before = evaluate(model)
    del model, opt2
    model = TendencyNet()
    model.load_weights(wpath)
    mx.eval(model.parameters())
    with open(os.path.join(d, "norm.json")) as f:
        meta = json.load(f)
    after = evaluate(model)
    same = all(np.allclose(before[k], after[k]) for k in before)
    print(f"checkpoint written and reloaded into a fresh model (stage {meta['stage']}), "
          f"valid metrics identical: {same}, {os.path.getsize(wpath) / 1024:.1f} KiB")

run_stage(model, "stage3", 3, 100, 5e-4, t0)

ev = evaluate(model)
print("final (valid)          T rmse@1/4/8h            q rmse@1/4/8h")
print(f"  emulator             {ev[1][0]:.3f}/{ev[4][0]:.3f}/{ev[8][0]:.3f} K      "
      f"{ev[1][1]:.3f}/{ev[4][1]:.3f}/{ev[8][1]:.3f} g/kg")
skill = 1 - ev[8] / pers[8]
print(f"  skill vs persistence at 8h: T {skill[0] * 100:.1f}%  q {skill[1] * 100:.1f}%")
print(f"done in {time.time() - t0:.1f}s")
