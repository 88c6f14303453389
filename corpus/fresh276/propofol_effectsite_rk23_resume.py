"""Two-compartment anaesthesia model learned as a neural ODE.

State = (plasma concentration, effect-site concentration) after a bolus, in
scaled units. The vector field is a small tanh MLP; trajectories are integrated
with an adaptive Bogacki-Shampine 3(2) solver written in MLX, and the loss is
back-propagated through the accepted solver steps.

Run layout: linear lr warmup from 0, then constant lr; at step 150 the run
writes a checkpoint (weights + Adam state), builds a fresh model/optimizer,
loads the checkpoint and continues to step 300.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

# ----------------------------------------------------------------- data
K10, K12, K21, KE0 = 0.9, 0.55, 0.25, 0.7   # hidden elimination / transfer rates
T_OBS = np.linspace(0.0, 3.0, 13).astype(np.float32)


def true_field(y):
    cp, ce = y[..., 0], y[..., 1]
    # nonlinear clearance (saturating hepatic uptake) + effect-site equilibration
    clear = K10 * cp / (1.0 + 0.35 * cp)
    dcp = -clear - K12 * cp + K21 * 0.6 * np.maximum(cp - ce, 0.0) ** 1.0
    dce = KE0 * (cp - ce)
    return np.stack([dcp, dce], axis=-1)


def simulate(y0, t_obs, sub=80):
    out = [y0.copy()]
    y = y0.copy()
    for i in range(len(t_obs) - 1):
        h = (t_obs[i + 1] - t_obs[i]) / sub
        for _ in range(sub):
            k1 = true_field(y)
            k2 = true_field(y + 0.5 * h * k1)
            k3 = true_field(y + 0.5 * h * k2)
            k4 = true_field(y + h * k3)
            y = y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y.copy())
    return np.stack(out, axis=1)  # (N, T, 2)


def make_set(n):
    cp0 = np.random.uniform(1.0, 4.0, size=n)
    ce0 = np.random.uniform(0.0, 0.6, size=n) * cp0
    y0 = np.stack([cp0, ce0], axis=-1).astype(np.float32)
    clean = simulate(y0, T_OBS).astype(np.float32)
    noisy = clean + 0.015 * np.random.randn(*clean.shape).astype(np.float32)
    noisy[:, 0, :] = clean[:, 0, :]          # dose and start state are known
    return noisy, clean


train_obs, _ = make_set(256)
val_obs, val_clean = make_set(64)
train_obs, val_obs, val_clean = map(mx.array, (train_obs, val_obs, val_clean))
t_obs = mx.array(T_OBS)

# baseline: per-state mono-exponential decay x(t) = x0 * exp(-c t), c fitted in closed form
def fit_decay(obs):
    o = np.array(obs)
    x0 = o[:, :1, :]
    t = T_OBS[None, 1:, None]
    ratio = np.clip(o[:, 1:, :] / np.maximum(x0, 1e-3), 1e-4, None)
    return -np.sum(np.log(ratio) * t, axis=(0, 1)) / np.sum(t * t * np.ones_like(ratio), axis=(0, 1))

c_dec = fit_decay(train_obs)
base_pred = np.array(val_obs)[:, :1, :] * np.exp(-c_dec[None, None, :] * T_OBS[None, :, None])
baseline_mse = float(np.mean((base_pred[:, 1:] - np.array(val_clean)[:, 1:]) ** 2))


# ----------------------------------------------------------------- model
class Field(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 2)

    def __call__(self, y):
        h = mx.tanh(self.l1(y))
        h = mx.tanh(self.l2(h))
        return self.l3(h)


RTOL, ATOL = 1e-3, 1e-4


def rk23_solve(f, y0, ts, h0=0.1, max_trials=400):
    """Adaptive Bogacki-Shampine; returns states at ts and the number of f calls."""
    ys = [y0]
    y = y0
    nfe = 0
    h = h0
    for i in range(ts.shape[0] - 1):
        t, t_end = float(ts[i].item()), float(ts[i + 1].item())
        k1 = f(y)
        nfe += 1
        trials = 0
        while t < t_end - 1e-9:
            trials += 1
            if trials > max_trials:
                raise RuntimeError("step size collapsed")
            h = min(h, t_end - t)
            k2 = f(y + 0.5 * h * k1)
            k3 = f(y + 0.75 * h * k2)
            y_new = y + h * (2.0 / 9.0 * k1 + 1.0 / 3.0 * k2 + 4.0 / 9.0 * k3)
            k4 = f(y_new)
            nfe += 3
            err = h * (-5.0 / 72.0 * k1 + 1.0 / 12.0 * k2 + 1.0 / 9.0 * k3 - 1.0 / 8.0 * k4)
            scale = ATOL + RTOL * mx.maximum(mx.abs(y), mx.abs(y_new))
            err_norm = mx.stop_gradient(mx.sqrt(mx.mean(mx.square(err / scale))))
            e = float(err_norm.item())
            if e <= 1.0:
                t += h
                y, k1 = y_new, k4          # FSAL
            fac = 0.9 * (1.0 / max(e, 1e-10)) ** (1.0 / 3.0)
            h = h * min(5.0, max(0.2, fac))
        ys.append(y)
    return mx.stack(ys, axis=1), nfe


def loss_fn(model, obs, stats):
    pred, nfe = rk23_solve(model, obs[:, 0, :], t_obs)
    stats["nfe"] = nfe
    return mx.mean(mx.square(pred[:, 1:] - obs[:, 1:]))


def evaluate(model):
    pred, nfe = rk23_solve(model, val_obs[:, 0, :], t_obs)
    return float(mx.mean(mx.square(pred[:, 1:] - val_clean[:, 1:])).item()), nfe


PEAK_LR, WARMUP, TOTAL, CKPT_AT, BATCH = 3e-3, 40, 300, 150, 32


def lr_at(step):
    return PEAK_LR * min(1.0, step / WARMUP)   # step 0 -> lr exactly 0


def build():
    model = Field()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    return model, opt


def train_steps(model, opt, start, stop, rng):
    stats = {}
    vg = nn.value_and_grad(model, lambda m, o: loss_fn(m, o, stats))
    for step in range(start, stop):
        idx = mx.array(rng.choice(train_obs.shape[0], BATCH, replace=False))
        opt.learning_rate = lr_at(step)
        loss, grads = vg(model, train_obs[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 25 == 0 or step == stop - 1:
            vmse, vnfe = evaluate(model)
            print(f"step {step:4d}  lr {lr_at(step):.2e}  train_mse {loss.item():.5f}  "
                  f"nfe/batch {stats['nfe']:4d}  val_mse {vmse:.5f}  decay_baseline {baseline_mse:.5f}  val_nfe {vnfe}")


t0 = time.time()
rng = np.random.default_rng(SEED)
model, opt = build()
v0, _ = evaluate(model)
print(f"untrained val_mse {v0:.5f}   mono-exponential baseline val_mse {baseline_mse:.5f}")
train_steps(model, opt, 0, CKPT_AT, rng)

with tempfile.TemporaryDirectory() as d:
    wpath = os.path.join(d, "field.safetensors")
    spath = os.path.join(d, "adam_state.safetensors")
    model.save_weights(wpath)
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(spath, state)
    before, _ = evaluate(model)
    del model, opt
    model, opt = build()
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(spath).items()))
    mx.eval(model.parameters(), opt.state)
    after, _ = evaluate(model)
    print(f"checkpoint written and reloaded into a fresh model at step {CKPT_AT}: "
          f"val_mse {before:.5f} -> {after:.5f}")

train_steps(model, opt, CKPT_AT, TOTAL, rng)

final, nfe = evaluate(model)
print(f"final val_mse {final:.5f}  (baseline {baseline_mse:.5f}, ratio {final / baseline_mse:.3f})  "
      f"val nfe {nfe}  elapsed {time.time() - t0:.1f}s")
