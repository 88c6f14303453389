"""Hedgerow aphids and ladybirds: a neural ODE fitted to noisy population counts.

The vector field is a small tanh MLP; trajectories are rolled out with a
fixed-step RK4 integrator and the whole rollout is differentiated. Training
uses a horizon curriculum: short rollouts first, then longer ones, so the
training loss jumps up whenever the horizon grows and then falls again.
The full-horizon validation error is reported throughout.

Output is a Markdown bullet list.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DT = 0.15
ALPHA, BETA, DELTA, GAMMA = 1.0, 0.6, 0.4, 0.8  # made-up hedgerow rates
CENTER = np.array([GAMMA / DELTA, ALPHA / BETA], dtype=np.float32)


def lotka_volterra(z):
    a, b = z[..., 0], z[..., 1]
    return np.stack([ALPHA * a - BETA * a * b, DELTA * a * b - GAMMA * b], axis=-1)


def simulate(z0, n_steps, substeps=10):
    h = DT / substeps
    z = z0.astype(np.float64)
    out = [z.copy()]
    for _ in range(n_steps):
        for _ in range(substeps):
            k1 = lotka_volterra(z)
            k2 = lotka_volterra(z + 0.5 * h * k1)
            k3 = lotka_volterra(z + 0.5 * h * k2)
            k4 = lotka_volterra(z + h * k3)
            z = z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(z.copy())
    return np.stack(out, axis=1)  # (batch, n_steps+1, 2)


class VectorField(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 2)

    def __call__(self, z):
        u = z - mx.array(CENTER)
        return self.l3(mx.tanh(self.l2(mx.tanh(self.l1(u)))))


def rollout(field, z0, n_steps):
    z, path = z0, [z0]
    for _ in range(n_steps):
        k1 = field(z)
        k2 = field(z + 0.5 * DT * k1)
        k3 = field(z + 0.5 * DT * k2)
        k4 = field(z + DT * k3)
        z = z + DT / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        path.append(z)
    return mx.stack(path, axis=1)


def traj_loss(field, obs, n_steps):
    pred = rollout(field, obs[:, 0], n_steps)
    return mx.mean((pred - obs[:, : n_steps + 1]) ** 2)


def make_step(field, opt, n_steps):
    loss_and_grad = nn.value_and_grad(field, partial(traj_loss, n_steps=n_steps))
    def step(obs):
        loss, grads = loss_and_grad(field, obs)
        opt.update(field, grads)
        return loss

    return step


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)

    full_steps = 30
    def draw(n):
        z0 = CENTER * rng.uniform(0.5, 1.5, size=(n, 2))
        clean = simulate(z0, full_steps)
        return (clean + 0.02 * rng.normal(size=clean.shape)).astype(np.float32), clean.astype(np.float32)

    train_obs, _ = draw(256)
    val_obs, val_clean = draw(64)
    val_obs, val_clean = mx.array(val_obs), mx.array(val_clean)

    field = VectorField()
    mx.eval(field.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def val_rmse():
        pred = rollout(field, val_obs[:, 0], full_steps)
        return float(mx.sqrt(mx.mean((pred - val_clean) ** 2)).item())

    # a constant-state forecast as the reference point
    persist = float(mx.sqrt(mx.mean((val_clean - val_clean[:, :1]) ** 2)).item())

    print("# Hedgerow neural ODE")
    print()
    print(f"- data: 256 train / 64 val trajectories, {full_steps} RK4 steps of dt={DT}, obs noise sd 0.02")
    print(f"- reference: hold-the-first-count forecast, val RMSE {persist:.4f}")

    probe = mx.array(train_obs[:32])
    _, g0 = nn.value_and_grad(field, partial(traj_loss, n_steps=10))(field, probe)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"- gradient check: {len(leaves)} leaves, zero-gradient leaves {zero}")
    print(f"- untrained full-horizon val RMSE {val_rmse():.4f}")

    curriculum = [(5, 200), (12, 150), (30, 200)]
    batch, global_step = 32, 0
    for stage, (horizon, n_updates) in enumerate(curriculum, 1):
        step = make_step(field, opt, horizon)
        print(f"- stage {stage}: horizon {horizon} steps (t = {horizon * DT:.1f})")
        window = []
        for i in range(1, n_updates + 1):
            idx = mx.array(rng.choice(len(train_obs), size=batch, replace=False))
            loss = step(mx.array(train_obs)[idx])
            mx.eval(loss, field.state, opt.state)
            global_step += 1
            window.append(loss.item())
            if i == 1 or i % 50 == 0:
                print(f"  - update {global_step:4d}: train mse {np.mean(window):.5f}"
                      f" (horizon {horizon}), val rmse full horizon {val_rmse():.4f},"
                      f" {time.time() - t0:.1f}s")
                window = []

    final = val_rmse()
    print(f"- done: val RMSE {final:.4f} vs reference {persist:.4f} (noise floor 0.02 on obs),"
          f" {global_step} updates, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
