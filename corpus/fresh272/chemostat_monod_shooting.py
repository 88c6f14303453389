"""Chemostat growth kinetics as a universal differential equation.

The mass balances of a continuous culture are known,
    dS/dt = D (S_in - S) - mu(S) X / Y
    dX/dt = (mu(S) - D) X,
but the specific growth rate mu(S) is not. A small MLP stands in for mu(S)
(softplus output, so it stays positive) and is trained by integrating the
balances with a differentiable RK4 over short multiple-shooting windows of
three bench runs at different dilution rates.

Run layout: a first leg of 350 steps with progress lines, then a checkpoint
(weights + optimizer state) is written, everything is rebuilt from the
checkpoint as after a pre-empted job, and a second leg of 450 steps runs in
quiet mode (no lines until the end).

The "balance drift" column checks the combined quantity Z = S + X/Y, which
obeys dZ/dt = D (S_in - Z) whatever mu is; it stays at round-off for the
whole run by construction.
"""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)
rng = np.random.default_rng(3)

S_IN, Y = 10.0, 0.5
MU_MAX, KS = 0.6, 1.5
RUNS = [  # (dilution rate 1/h, S0 g/L, X0 g/L)
    (0.10, 9.0, 0.2),
    (0.25, 0.3, 3.0),
    (0.40, 5.0, 1.0),
]
DT_OBS, N_OBS = 0.5, 61          # every 30 min for 30 h
NOISE = 0.02                     # 2 % multiplicative sensor noise
SUB = 2                          # RK4 substeps per observation interval
WIN = 6                          # observations per shooting window


def mu_true(s):
    return MU_MAX * s / (KS + s)


def rhs_np(state, d):
    s, x = state
    mu = mu_true(s)
    return np.array([d * (S_IN - s) - mu * x / Y, (mu - d) * x])


def simulate_np(d, s0, x0):
    h, out, st = 0.01, [], np.array([s0, x0])
    per = int(round(DT_OBS / h))
    for k in range(N_OBS):
        out.append(st.copy())
        for _ in range(per):
            k1 = rhs_np(st, d)
            k2 = rhs_np(st + 0.5 * h * k1, d)
            k3 = rhs_np(st + 0.5 * h * k2, d)
            k4 = rhs_np(st + h * k3, d)
            st = st + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.array(out)


# ---- synthetic bench data, cut into shooting windows -----------------------
starts_s, starts_x, tgt_s, tgt_x, dil = [], [], [], [], []
for d, s0, x0 in RUNS:
    clean = simulate_np(d, s0, x0)
    noisy = clean * (1.0 + NOISE * rng.standard_normal(clean.shape))
    noisy = np.maximum(noisy, 1e-3)
    for a in range(0, N_OBS - WIN, WIN // 2):
        starts_s.append(noisy[a, 0]); starts_x.append(noisy[a, 1])
        tgt_s.append(noisy[a + 1:a + 1 + WIN, 0]); tgt_x.append(noisy[a + 1:a + 1 + WIN, 1])
        dil.append(d)
S0 = mx.array(np.array(starts_s, np.float32))
X0 = mx.array(np.array(starts_x, np.float32))
TS = mx.array(np.array(tgt_s, np.float32))   # (n_win, WIN)
TX = mx.array(np.array(tgt_x, np.float32))
DIL = mx.array(np.array(dil, np.float32))
print(f"{len(RUNS)} bench runs, {N_OBS} samples each, {S0.shape[0]} shooting windows of {WIN}")


class GrowthRate(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1)
        )

    def __call__(self, s):
        z = mx.log1p(mx.maximum(s, 0.0))[..., None]
        return nn.softplus(self.net(z))[..., 0]


def rollout(model, s, x, d):
    h = DT_OBS / SUB

    def f(s_, x_):
        mu = model(s_)
        return d * (S_IN - s_) - mu * x_ / Y, (mu - d) * x_

    ss, xs = [], []
    for _ in range(WIN):
        for _ in range(SUB):
            a1, b1 = f(s, x)
            a2, b2 = f(s + 0.5 * h * a1, x + 0.5 * h * b1)
            a3, b3 = f(s + 0.5 * h * a2, x + 0.5 * h * b2)
            a4, b4 = f(s + h * a3, x + h * b3)
            s = s + h / 6.0 * (a1 + 2 * a2 + 2 * a3 + a4)
            x = x + h / 6.0 * (b1 + 2 * b2 + 2 * b3 + b4)
        ss.append(s); xs.append(x)
    return mx.stack(ss, axis=1), mx.stack(xs, axis=1)


def loss_fn(model):
    ps, px = rollout(model, S0, X0, DIL)
    return mx.mean((ps - TS) ** 2) / S_IN ** 2 * 100 + mx.mean((px - TX) ** 2) / (Y * S_IN) ** 2 * 100


def balance_drift(model):
    ps, px = rollout(model, S0, X0, DIL)
    z0 = S0 + X0 / Y
    t = mx.arange(1, WIN + 1).astype(mx.float32) * DT_OBS
    z_exact = S_IN + (z0[:, None] - S_IN) * mx.exp(-DIL[:, None] * t[None, :])
    return mx.max(mx.abs(ps + px / Y - z_exact)).item()


s_grid = np.linspace(0.05, 9.5, 120).astype(np.float32)
mu_grid = mu_true(s_grid)
const_baseline = float(np.sqrt(np.mean((mu_grid - mu_grid.mean()) ** 2)))


def mu_rmse(model):
    return float(np.sqrt(np.mean((np.array(model(mx.array(s_grid))) - mu_grid) ** 2)))


TOTAL, LEG1, WARM = 800, 350, 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-2, WARM), optim.cosine_decay(1e-2, TOTAL - WARM, end=2e-4)],
    [WARM],
)


def build():
    m = GrowthRate()
    mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=schedule)


def train(model, opt, n, verbose):
    vg = nn.value_and_grad(model, loss_fn)
    for _ in range(n):
        loss, grads = vg(model)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        k = int(opt.step.item())
        if verbose and (k % 50 == 0 or k == 1):
            print(f"step {k:5d} lr {opt.learning_rate.item():.2e} loss {loss.item():.5f} "
                  f"mu_rmse {mu_rmse(model):.4f} balance_drift {balance_drift(model):.1e}")
    return loss.item()


t0 = time.time()
model, opt = build()
class TrueRate(nn.Module):
    def __call__(self, s):
        return mu_true(s)


print(f"baseline: constant-rate mu RMSE {const_baseline:.4f} 1/h; "
      f"loss of the true kinetics on these noisy windows {loss_fn(TrueRate()).item():.5f}")
print(f"start: loss {loss_fn(model).item():.5f} mu_rmse {mu_rmse(model):.4f}")
train(model, opt, LEG1, verbose=True)

with tempfile.TemporaryDirectory() as ckdir:
    wpath = os.path.join(ckdir, "growth.safetensors")
    opath = os.path.join(ckdir, "adam.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    saved_step = int(opt.step.item())
    print(f"checkpoint written at step {saved_step}; rebuilding from disk")
    del model, opt

    model, opt = build()
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed at step {int(opt.step.item())} lr {opt.learning_rate.item():.2e} "
          f"loss {loss_fn(model).item():.5f}")

print(f"quiet leg: {TOTAL - LEG1} steps")
final_loss = train(model, opt, TOTAL - LEG1, verbose=False)

print(f"final: step {int(opt.step.item())} loss {final_loss:.5f} mu_rmse {mu_rmse(model):.4f} "
      f"(constant-rate baseline {const_baseline:.4f}) balance_drift {balance_drift(model):.1e}")
for s in (0.3, 1.0, 3.0, 8.0):
    print(f"  mu({s:.1f}) learned {model(mx.array([s])).item():.3f} true {mu_true(s):.3f}")
print(f"elapsed {time.time() - t0:.1f}s")
