"""Smokehouse: forecast the chamber temperature 30 minutes ahead from the last
32 readings (chamber temp, firebox temp, damper opening, outside air).

Stage 'reservoir': the GRU keeps its random initial weights and only the linear
read-out is set, by closed-form ridge regression on the GRU's final states (no
optimizer, no gradient).  Stage 'thaw': the whole net is released and trained
with RMSprop whose learning rate climbs from exactly 0.  Half way through the
thaw the run is written to disk, everything is thrown away, rebuilt and resumed.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(23)
L, D, H, AHEAD = 32, 4, 48, 3


def smokehouse(n_series, length):
    out = []
    for _ in range(n_series):
        fire = np.zeros(length); cham = np.zeros(length)
        damper = np.clip(0.5 + np.cumsum(0.08 * rng.standard_normal(length)), 0, 1)
        outside = 8 + 6 * np.sin(np.arange(length) / 144 * 2 * np.pi + rng.uniform(0, 6))
        fire[0], cham[0] = 300, 70
        for t in range(1, length):
            logs = 60 if rng.random() < 0.03 else 0
            fire[t] = fire[t - 1] + logs - 0.04 * (fire[t - 1] - 150) * (0.5 + damper[t]) + 4 * rng.standard_normal()
            cham[t] = (cham[t - 1] + 0.03 * damper[t - 1] * (fire[t - 1] - cham[t - 1])
                       - 0.02 * (cham[t - 1] - outside[t]) + 0.4 * rng.standard_normal())
        out.append(np.stack([cham, fire, damper, outside], 1))
    return out


def windows(series, n):
    X, y = [], []
    for _ in range(n):
        s = series[rng.integers(0, len(series))]
        t = rng.integers(0, s.shape[0] - L - AHEAD)
        X.append(s[t:t + L]); y.append(s[t + L + AHEAD - 1, 0])
    return np.array(X, np.float32), np.array(y, np.float32)[:, None]


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(D, H)
        self.readout = nn.Linear(H, 1)

    def states(self, x):
        return self.gru(x)[:, -1, :]

    def __call__(self, x):
        return self.readout(self.states(x))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def rmse_c(model, X, y, sd):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2)).item()) * sd


def make_opt():
    warm = optim.linear_schedule(0.0, 5e-4, 60)
    return optim.RMSprop(learning_rate=optim.join_schedules(
        [warm, optim.cosine_decay(5e-4, 340, 2e-5)], [60]))


def main():
    t0 = time.perf_counter()
    mx.random.seed(23)
    tr, va = smokehouse(24, 700), smokehouse(6, 700)
    Xtr, ytr = windows(tr, 4000)
    Xva, yva = windows(va, 1000)
    mu, sd = Xtr.reshape(-1, D).mean(0), Xtr.reshape(-1, D).std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    ytr, yva = (ytr - mu[0]) / sd[0], (yva - mu[0]) / sd[0]
    persist = float(np.sqrt(np.mean((Xva[:, -1, 0:1] - yva) ** 2))) * sd[0]
    Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
    print(f"windows: train {Xtr.shape[0]}, valid {Xva.shape[0]} (held-out smokehouse days); "
          f"persistence forecast rmse {persist:.2f} C")

    model = Forecaster()
    mx.eval(model.parameters())
    print(f"untrained rmse {rmse_c(model, Xva, yva, sd[0]):.2f} C")

    # stage reservoir: closed-form read-out on frozen random GRU states
    gru_before = {k: np.array(v) for k, v in tree_flatten(model.gru.parameters())}
    S = np.array(model.states(Xtr))
    S1 = np.concatenate([S, np.ones((S.shape[0], 1), np.float32)], 1)
    lam = 1.0
    W = np.linalg.solve(S1.T @ S1 + lam * np.eye(H + 1), S1.T @ np.array(ytr))
    model.readout.weight = mx.array(W[:H].T.astype(np.float32))
    model.readout.bias = mx.array(W[H:, 0].astype(np.float32))
    mx.eval(model.parameters())
    ridge = rmse_c(model, Xva, yva, sd[0])
    gdrift = max(float(np.max(np.abs(np.array(v) - gru_before[k])))
                 for k, v in tree_flatten(model.gru.parameters()))
    print(f"[reservoir] ridge lambda {lam} on {S.shape[0]} final states: "
          f"valid rmse {ridge:.2f} C, gru weights change {gdrift:.1e}")

    # stage thaw
    opt = make_opt()
    lg = nn.value_and_grad(model, mse)
    ckpt_dir = tempfile.TemporaryDirectory()
    ckpt = ckpt_dir.name
    total, half, bs = 400, 200, 64
    step = 0
    while step < total:
        step += 1
        idx = mx.array(rng.integers(0, Xtr.shape[0], bs))
        loss, g = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1:
            print(f"[thaw] step 1 lr {float(opt.learning_rate.item()):.1e}  "
                  f"valid rmse {rmse_c(model, Xva, yva, sd[0]):.2f} C (same as ridge)")
        if step % 100 == 0:
            print(f"[thaw] step {step:3d} lr {float(opt.learning_rate.item()):.2e}  "
                  f"batch mse {loss.item():.4f}  valid rmse {rmse_c(model, Xva, yva, sd[0]):.2f} C")
        if step == half:
            model.save_weights(os.path.join(ckpt, "model.safetensors"))
            mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
            probe = rmse_c(model, Xva, yva, sd[0])
            del model, opt, lg
            model = Forecaster()
            model.load_weights(os.path.join(ckpt, "model.safetensors"))
            opt = make_opt()
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
            lg = nn.value_and_grad(model, mse)
            mx.eval(model.parameters(), opt.state)
            print(f"[thaw] resumed from {ckpt}: optimizer step {int(opt.step.item())}, "
                  f"valid rmse {rmse_c(model, Xva, yva, sd[0]):.2f} C (before save {probe:.2f} C)")
    final = rmse_c(model, Xva, yva, sd[0])
    ckpt_dir.cleanup()
    print(f"done in {time.perf_counter()-t0:.1f}s: valid rmse {final:.2f} C | ridge {ridge:.2f} C | "
          f"persistence {persist:.2f} C")


if __name__ == "__main__":
    main()
