"""Koopman autoencoder for the Van der Pol oscillator.

An MLP encoder lifts the 2-D state into an 8-D latent space where the dynamics
are modelled by ONE linear operator K (a raw mx.array attribute); the decoder maps
back.  Loss = reconstruction + multi-step latent rollout prediction + latent
linearity.  The log is written as SQL so it can be piped into sqlite3.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

DT, MU, HORIZON, LATENT = 0.05, 1.0, 8, 8


def simulate(n_traj, n_steps, rng):
    x = rng.uniform(-2.5, 2.5, size=(n_traj, 2)).astype(np.float64)
    out = np.empty((n_traj, n_steps, 2), dtype=np.float32)

    def f(s):
        return np.stack([s[:, 1], MU * (1 - s[:, 0] ** 2) * s[:, 1] - s[:, 0]], axis=1)

    for t in range(n_steps):
        out[:, t] = x
        k1 = f(x); k2 = f(x + 0.5 * DT * k1); k3 = f(x + 0.5 * DT * k2); k4 = f(x + DT * k3)
        x = x + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


class Koopman(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(2, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, LATENT))
        self.dec = nn.Sequential(nn.Linear(LATENT, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 2))
        self.K = 0.98 * mx.eye(LATENT) + 0.01 * mx.random.normal((LATENT, LATENT))

    def rollout(self, z0, steps):
        zs, z = [], z0
        for _ in range(steps):
            z = z @ self.K.T
            zs.append(z)
        return mx.stack(zs, axis=1)


def loss_fn(model, seq):
    # seq: (B, HORIZON+1, 2)
    z = model.enc(seq.reshape(-1, 2)).reshape(seq.shape[0], seq.shape[1], LATENT)
    recon = mx.mean((model.dec(z) - seq) ** 2)
    z_roll = model.rollout(z[:, 0], HORIZON)
    pred = mx.mean((model.dec(z_roll) - seq[:, 1:]) ** 2)
    lin = mx.mean((z_roll - z[:, 1:]) ** 2)
    return recon + pred + 0.1 * lin, (recon, pred)


def windows(traj, rng, n):
    i = rng.integers(0, traj.shape[0], n)
    t = rng.integers(0, traj.shape[1] - HORIZON - 1, n)
    idx = t[:, None] + np.arange(HORIZON + 1)[None, :]
    return mx.array(traj[i[:, None], idx])


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    train = simulate(256, 200, rng)
    val = simulate(64, 200, rng)
    val_batch = windows(val, rng, 1024)

    model = Koopman()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 800, 1e-4), weight_decay=1e-4)

    def step_loss(m, b):
        return loss_fn(m, b)[0]

    vg = nn.value_and_grad(model, step_loss)

    # gradient sanity: every leaf must receive a signal at the first step
    _, g0 = vg(model, windows(train, rng, 256))
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]

    print("CREATE TABLE IF NOT EXISTS koopman_run (step INTEGER PRIMARY KEY, lr REAL, "
          "train_loss REAL, val_recon_mse REAL, val_pred8_mse REAL, spectral_radius REAL);")
    print(f"-- {len(flat)} parameter leaves, {len(zero)} with zero gradient at step 0 {zero if zero else ''}")
    run = []
    for step in range(1, 801):
        batch = windows(train, rng, 128)
        loss, grads = vg(model, batch)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 100 == 0:
            _, (rec, pred) = loss_fn(model, val_batch)
            rho = float(np.max(np.abs(np.linalg.eigvals(np.array(model.K)))))
            lr = opt.learning_rate.item()
            print(f"INSERT INTO koopman_run VALUES ({step}, {lr:.3e}, {np.mean(run):.6f}, "
                  f"{rec.item():.6f}, {pred.item():.6f}, {rho:.4f});")
            run = []
    print(f"-- finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
