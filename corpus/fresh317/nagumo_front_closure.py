"""Universal differential equation for a bistable reaction-diffusion front.

u_t = D u_xx + R(u) on [0, 1] with no-flux ends (method of lines, 32 cells).
The reaction law R is unknown and is represented by a small tanh network; the
diffusivity D is a trainable scalar (log-parameterised).  Training rolls the
semi-discrete system forward with explicit Euler from an observed snapshot
(multiple shooting, 3 snapshots ahead) and matches the noisy observations.

Learning rate: three cosine cycles with warm restarts; the loss is expected to
jump a little at each restart.  Progress lines are only printed during the first
cycle and at the end of each later cycle.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NX = 32
DX = 1.0 / NX
D_TRUE = 0.01
OBS_EVERY = 0.1
N_SNAP = 10
OBS_NOISE = 0.004
SUB = 10                      # model Euler steps between snapshots
DT = OBS_EVERY / SUB


def r_true(u):
    return 4.0 * u * (1.0 - u) * (u - 0.3)


def lap_np(u):
    g = np.concatenate([u[..., :1], u, u[..., -1:]], axis=-1)
    return (g[..., 2:] - 2 * g[..., 1:-1] + g[..., :-2]) / DX ** 2


def simulate(n, rng):
    x = (np.arange(NX) + 0.5) * DX
    u = np.zeros((n, NX))
    for k in range(3):
        c = rng.uniform(0, 1, size=(n, 1))
        w = rng.uniform(0.05, 0.2, size=(n, 1))
        a = rng.uniform(0.2, 1.0, size=(n, 1))
        u += a * np.exp(-((x - c) / w) ** 2)
    u = np.clip(u, 0.0, 1.0)
    dt = 0.001
    per = int(round(OBS_EVERY / dt))
    snaps = [u.copy()]
    for _ in range(N_SNAP - 1):
        for _ in range(per):
            u = u + dt * (D_TRUE * lap_np(u) + r_true(u))
        snaps.append(u.copy())
    return np.stack(snaps, axis=1)  # (n, N_SNAP, NX)


def lap(u):
    g = mx.concatenate([u[..., :1], u, u[..., -1:]], axis=-1)
    return (g[..., 2:] - 2 * g[..., 1:-1] + g[..., :-2]) / DX ** 2


class ReactionClosure(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)
        self.log_d = mx.array(math.log(0.02))

    def reaction(self, u):
        h = mx.tanh(self.l1(u[..., None]))
        h = mx.tanh(self.l2(h))
        return self.l3(h).squeeze(-1)

    def __call__(self, u0, n_snap):
        d = mx.exp(self.log_d)
        u, out = u0, []
        for _ in range(n_snap):
            for _ in range(SUB):
                u = u + DT * (d * lap(u) + self.reaction(u))
            out.append(u)
        return mx.stack(out, axis=1)


def rollout_reference(u0, n_snap, react):
    u, out = u0, []
    for _ in range(n_snap):
        for _ in range(SUB):
            u = u + DT * (D_TRUE * lap(u) + react(u))
        out.append(u)
    return mx.stack(out, axis=1)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    clean_tr, clean_va = simulate(64, rng), simulate(16, rng)
    obs_tr = clean_tr + OBS_NOISE * rng.standard_normal(clean_tr.shape)
    obs_va = clean_va + OBS_NOISE * rng.standard_normal(clean_va.shape)
    obs_tr = mx.array(obs_tr, dtype=mx.float32)
    obs_va = mx.array(obs_va, dtype=mx.float32)

    horizon = 3

    def loss_fn(model, u0, target):
        return mx.mean((model(u0, horizon) - target) ** 2)

    def val_rollout(react_model=None, ref=None):
        u0, tgt = obs_va[:, 0], obs_va[:, 1:]
        pred = react_model(u0, N_SNAP - 1) if react_model is not None else ref(u0)
        return mx.mean((pred - tgt) ** 2).item()

    diff_only = val_rollout(ref=lambda u0: rollout_reference(u0, N_SNAP - 1, lambda u: 0.0 * u))
    exact = val_rollout(ref=lambda u0: rollout_reference(u0, N_SNAP - 1, r_true))
    print(f"{obs_tr.shape[0]} train / {obs_va.shape[0]} val trajectories, {N_SNAP} snapshots, "
          f"{NX} cells, built in {time.time() - t0:.1f}s")
    print(f"val full-rollout mse: diffusion only {diff_only:.5f} | true law on model grid "
          f"{exact:.6f} (noise variance {OBS_NOISE ** 2:.6f})")

    model = ReactionClosure()
    cycle, n_cycles, peak = 120, 3, 1.5e-2
    pieces = [optim.cosine_decay(peak, cycle, 2e-5) for _ in range(n_cycles)]
    sched = optim.join_schedules(pieces, [cycle * (i + 1) for i in range(n_cycles - 1)])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(u0, tgt):
        loss, grads = step_fn(model, u0, tgt)
        opt.update(model, grads)
        return loss

    print(f"val full-rollout mse at init {val_rollout(model):.5f}, D {math.exp(model.log_d.item()):.4f}")
    batch = 32
    n_traj = obs_tr.shape[0]
    for step in range(cycle * n_cycles):
        ti = rng.integers(0, n_traj, size=batch)
        ki = rng.integers(0, N_SNAP - horizon, size=batch)
        u0 = obs_tr[mx.array(ti), mx.array(ki)]
        tgt = mx.stack([obs_tr[mx.array(ti), mx.array(ki + j)] for j in range(1, horizon + 1)], axis=1)
        loss = train_step(u0, tgt)
        mx.eval(state)
        c = step // cycle
        end_of_cycle = (step + 1) % cycle == 0
        if (c == 0 and step % 20 == 0) or end_of_cycle or step % cycle == 0:
            print(f"cycle {c + 1} step {step:4d} lr {sched(step):.2e} loss {loss.item():.6f} "
                  f"D {math.exp(model.log_d.item()):.4f}"
                  + (f" | val rollout {val_rollout(model):.6f}" if end_of_cycle else ""))

    us = mx.linspace(0.0, 1.0, 101)
    r_hat = np.array(model.reaction(us))
    r_ref = r_true(np.linspace(0.0, 1.0, 101))
    sign = np.where(np.diff(np.sign(r_hat)) != 0)[0]
    roots = [f"{float(np.linspace(0, 1, 101)[i]):.2f}" for i in sign]
    print(f"learned D {math.exp(model.log_d.item()):.4f} (true {D_TRUE})")
    print(f"reaction law max abs error on [0,1] {np.abs(r_hat - r_ref).max():.4f}; "
          f"interior sign changes near u = {', '.join(roots) or 'none'} (true 0.30)")
    print(f"val full-rollout mse {val_rollout(model):.6f} vs diffusion only {diff_only:.5f} "
          f"and true law {exact:.6f}")
    print(f"time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
