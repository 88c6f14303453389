"""Koopman autoencoder for a damped pendulum, trained with a growing rollout horizon.

Observations are (sin theta, cos theta, omega / 3) of a damped pendulum sampled every
dt seconds, plus sensor noise.  An encoder maps an observation to a 6-d latent, a single
linear Koopman matrix K advances the latent one step, and a decoder maps back.

Curriculum: the rollout horizon grows 1 -> 3 -> 8, so the training loss jumps up at
each stage change (the task gets harder) and then falls again.  The validation metric is
always the 8-step angle error, so it is comparable across stages.

Layers use weight normalisation written by hand (w = g * v / ||v||).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
DT = 0.1
DAMPING = 0.15
G_OVER_L = 4.0
MAX_H = 8
BATCH = 128
STAGES = [(1, 250), (3, 300), (8, 350)]   # (horizon, steps)
REPORT_EVERY = 50


# ----------------------------------------------------------------------------- data
def simulate(n_traj, length, rng):
    th = rng.uniform(-2.5, 2.5, size=n_traj)
    om = rng.uniform(-1.5, 1.5, size=n_traj)
    out = np.zeros((n_traj, length, 2), dtype=np.float64)
    sub = 10
    h = DT / sub
    for t in range(length):
        out[:, t, 0] = th
        out[:, t, 1] = om
        for _ in range(sub):   # semi-implicit Euler, fine steps
            om = om + h * (-G_OVER_L * np.sin(th) - DAMPING * om)
            th = th + h * om
    return out


def observe(states, rng, noise=0.01):
    th, om = states[..., 0], states[..., 1]
    obs = np.stack([np.sin(th), np.cos(th), om / 3.0], axis=-1)
    return (obs + noise * rng.standard_normal(obs.shape)).astype(np.float32)


def windows(obs, width):
    n, T, d = obs.shape
    idx = [obs[:, s:s + width] for s in range(0, T - width + 1)]
    return np.concatenate(idx, axis=0)


# ----------------------------------------------------------------------------- model
class WNLinear(nn.Module):
    """Linear layer with weight normalisation: w = g * v / ||v||_row."""

    def __init__(self, d_in, d_out):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.v = mx.random.uniform(-bound, bound, (d_out, d_in))
        self.g = mx.sqrt(mx.sum(self.v * self.v, axis=1))
        self.b = mx.zeros((d_out,))

    def __call__(self, x):
        norm = mx.sqrt(mx.sum(self.v * self.v, axis=1, keepdims=True))
        w = self.g[:, None] * self.v / norm
        return x @ w.T + self.b


class Koopman(nn.Module):
    def __init__(self, d_obs=3, d_lat=6, hidden=48):
        super().__init__()
        self.enc = [WNLinear(d_obs, hidden), WNLinear(hidden, d_lat)]
        self.dec = [WNLinear(d_lat, hidden), WNLinear(hidden, d_obs)]
        self.K = 0.9 * mx.eye(d_lat) + 0.01 * mx.random.normal((d_lat, d_lat))

    def encode(self, x):
        return self.enc[1](mx.tanh(self.enc[0](x)))

    def decode(self, z):
        return self.dec[1](mx.tanh(self.dec[0](z)))

    def advance(self, z):
        return z @ self.K.T

    def rollout(self, x0, horizon):
        z = self.encode(x0)
        preds, lats = [], []
        for _ in range(horizon):
            z = self.advance(z)
            lats.append(z)
            preds.append(self.decode(z))
        return mx.stack(preds, axis=1), mx.stack(lats, axis=1)


def loss_fn(model, win, horizon):
    x0 = win[:, 0]
    recon = mx.mean((model.decode(model.encode(x0)) - x0) ** 2)
    preds, lats = model.rollout(x0, horizon)
    target = win[:, 1:horizon + 1]
    pred_loss = mx.mean((preds - target) ** 2)
    # latent linearity: the encoded future is the target, held fixed
    z_target = mx.stop_gradient(model.encode(target))
    lin_loss = mx.mean((lats - z_target) ** 2)
    return recon + pred_loss + 0.1 * lin_loss


def angle_rmse_deg(model, win, horizon):
    preds, _ = model.rollout(win[:, 0], horizon)
    p = np.array(preds[:, horizon - 1])
    t = np.array(win[:, horizon])
    ang_p = np.arctan2(p[:, 0], p[:, 1])
    ang_t = np.arctan2(t[:, 0], t[:, 1])
    d = np.angle(np.exp(1j * (ang_p - ang_t)))
    return float(np.degrees(np.sqrt(np.mean(d ** 2))))


def toml_block(table, **kv):
    lines = [f"[[{table}]]"]
    for k, v in kv.items():
        if isinstance(v, float):
            lines.append(f"{k} = {v:.5f}")
        elif isinstance(v, str):
            lines.append(f'{k} = "{v}"')
        else:
            lines.append(f"{k} = {v}")
    print("\n".join(lines) + "\n", flush=True)


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    train_obs = observe(simulate(300, 60, rng), rng)
    val_obs = observe(simulate(60, 60, rng), rng)
    train_win = windows(train_obs, MAX_H + 1)
    val_win = mx.array(windows(val_obs, MAX_H + 1)[::7])
    toml_block("data", train_windows=int(train_win.shape[0]),
               val_windows=int(val_win.shape[0]), dt=DT, max_horizon=MAX_H)

    model = Koopman()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=3e-3)

    # first-step gradient audit
    first = mx.array(train_win[:BATCH])
    _, g0 = nn.value_and_grad(model, loss_fn)(model, first, 1)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.max(mx.abs(v))) == 0.0]
    toml_block("grad_check", leaves=len(leaves), zero_grad_leaves=len(zero))

    toml_block("report", step=0, horizon=0,
               val_angle_rmse8_deg=angle_rmse_deg(model, val_win, MAX_H))

    t0 = time.perf_counter()
    step = 0
    order = rng.permutation(train_win.shape[0])
    cursor = 0
    for horizon, n_steps in STAGES:
        state = [model.state, opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def train_step(batch):
            loss, grads = nn.value_and_grad(model, loss_fn)(model, batch, horizon)
            opt.update(model, grads)
            return loss

        toml_block("stage", horizon=horizon, steps=n_steps)
        running = []
        for _ in range(n_steps):
            if cursor + BATCH > len(order):
                order = rng.permutation(train_win.shape[0])
                cursor = 0
            batch = mx.array(train_win[order[cursor:cursor + BATCH]])
            cursor += BATCH
            loss = train_step(batch)
            mx.eval(loss, model.state, opt.state)
            running.append(loss.item())
            step += 1
            if step % REPORT_EVERY == 0:
                eig = np.abs(np.linalg.eigvals(np.array(model.K)))
                toml_block("report", step=step, horizon=horizon,
                           train_loss=float(np.mean(running)),
                           val_angle_rmse8_deg=angle_rmse_deg(model, val_win, MAX_H),
                           K_spectral_radius=float(eig.max()),
                           elapsed_s=time.perf_counter() - t0)
                running = []

    toml_block("done", steps=step, seconds=time.perf_counter() - t0,
               val_angle_rmse8_deg=angle_rmse_deg(model, val_win, MAX_H))


if __name__ == "__main__":
    main()
