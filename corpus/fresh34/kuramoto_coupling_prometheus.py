# Infer the coupling matrix and natural frequencies of 6 Kuramoto oscillators
# from noisy simulated phase trajectories, by fitting one-step phase increments
# with a wrapped (1 - cos) loss.  Progress is emitted in Prometheus text
# exposition format (one scrape block per report).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N, DT, STEPS, RUNS = 6, 0.05, 400, 8
rng = np.random.default_rng(11)
K_true = rng.normal(0.0, 0.8, (N, N)) * (rng.random((N, N)) < 0.6)
np.fill_diagonal(K_true, 0.0)
w_true = rng.normal(1.0, 0.4, N)


def simulate():
    th = rng.uniform(-math.pi, math.pi, N)
    out = [th.copy()]
    for _ in range(STEPS):
        d = np.sin(th[None, :] - th[:, None])
        th = th + DT * (w_true + (K_true * d).sum(1) / N) + rng.normal(0, 0.02, N)
        out.append(th.copy())
    return np.array(out)


traj = np.concatenate([simulate()[None] for _ in range(RUNS)])       # R, T+1, N
X = traj[:, :-1].reshape(-1, N).astype(np.float32)
Y = traj[:, 1:].reshape(-1, N).astype(np.float32)
perm = rng.permutation(len(X))
tr, va = perm[: int(0.85 * len(X))], perm[int(0.85 * len(X)):]
Xtr, Ytr, Xva, Yva = (mx.array(a) for a in (X[tr], Y[tr], X[va], Y[va]))


class Kuramoto(nn.Module):
    def __init__(self):
        super().__init__()
        self.K = mx.zeros((N, N))
        self.omega = mx.zeros((N,))

    def __call__(self, th):
        d = mx.sin(th[:, None, :] - th[:, :, None])
        K = self.K * (1.0 - mx.eye(N))
        return th + DT * (self.omega + (K * d).sum(-1) / N)


def loss_fn(model, th, nxt):
    return (1.0 - mx.cos(model(th) - nxt)).mean() / (DT * DT)


model = Kuramoto()
opt = optim.Adam(learning_rate=0.03)
lg = nn.value_and_grad(model, loss_fn)
_, g0 = lg(model, Xtr[:256], Ytr[:256])
print("# grad-leaf check " + " ".join(f"{k}={mx.abs(v).max().item():.3e}" for k, v in tree_flatten(g0)))
noise_floor = (1.0 - math.exp(-0.02 ** 2 / 2)) / (DT * DT)
t0 = time.time()
for step in range(1, 2401):
    idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
    loss, g = lg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 50) or step % 400 == 0:
        va_loss = loss_fn(model, Xva, Yva).item()
        K_hat = np.array(model.K) * (1 - np.eye(N))
        k_err = float(np.abs(K_hat - K_true).mean())
        w_err = float(np.abs(np.array(model.omega) - w_true).mean())
        ts = int(time.time() * 1000)
        print(f"# HELP kuramoto_loss wrapped one-step loss (1-cos)/dt^2; noise floor ~{noise_floor:.4f}")
        print("# TYPE kuramoto_loss gauge")
        print(f'kuramoto_loss{{split="train_batch"}} {loss.item():.6f} {ts}')
        print(f'kuramoto_loss{{split="val"}} {va_loss:.6f} {ts}')
        print("# TYPE kuramoto_param_abs_error gauge")
        print(f'kuramoto_param_abs_error{{param="K"}} {k_err:.5f} {ts}')
        print(f'kuramoto_param_abs_error{{param="omega"}} {w_err:.5f} {ts}')
        print("# TYPE kuramoto_step counter")
        print(f"kuramoto_step_total {step} {ts}")
        print(f"kuramoto_seconds_elapsed {time.time() - t0:.2f} {ts}")
        print("", flush=True)
