"""Surf-park wave pool: predict crest height (cm) at the break line from paddle settings.

Synthetic logs, small MLP, Lion with a warmup that starts at exactly 0 and a cosine schedule
with one warm restart. Compiled train step. Prints JSON lines, with a closed-form ridge
regression as the reference everything should beat.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(212)


def make_pool_logs(n):
    stroke = rng.uniform(0.3, 1.5, n)        # paddle stroke (m)
    freq = rng.uniform(0.08, 0.45, n)        # paddle frequency (Hz)
    depth = rng.uniform(1.0, 3.0, n)         # water depth at paddle (m)
    slope = rng.uniform(2.0, 10.0, n)        # reef slope (deg)
    swimmers = rng.integers(0, 200, n).astype(np.float64)
    # made-up wave law: shallow-water dispersion-ish term, shoaling by slope, damping by swimmers
    k = np.tanh(2.5 * freq * depth)
    crest = 70.0 * stroke * k * (1.0 + 0.04 * slope) * np.exp(-swimmers / 900.0)
    crest += 8.0 * np.sin(3.0 * freq * stroke * 6.0)
    crest += rng.normal(0.0, 2.5, n)
    X = np.stack([stroke, freq, depth, slope, swimmers], axis=1)
    return X.astype(np.float32), crest.astype(np.float32)


X_tr, y_tr = make_pool_logs(1400)
X_va, y_va = make_pool_logs(350)
mu, sd = X_tr.mean(0), X_tr.std(0)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
X_tr_n, X_va_n = (X_tr - mu) / sd, (X_va - mu) / sd
y_tr_n, y_va_n = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd

# reference: ridge regression on the standardised features (closed form)
A = np.concatenate([X_tr_n, np.ones((len(X_tr_n), 1), np.float32)], 1)
w_ridge = np.linalg.solve(A.T @ A + 1e-2 * np.eye(A.shape[1]), A.T @ y_tr_n)
A_va = np.concatenate([X_va_n, np.ones((len(X_va_n), 1), np.float32)], 1)
ridge_rmse_cm = float(np.sqrt(np.mean((A_va @ w_ridge - y_va_n) ** 2)) * y_sd)


class CrestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


mx.random.seed(212)
model = CrestNet()
mx.eval(model.parameters())

WARM, CYCLE1, CYCLE2 = 100, 900, 1000
TOTAL = WARM + CYCLE1 + CYCLE2
schedule = optim.join_schedules(
    [
        optim.linear_schedule(0.0, 1e-3, WARM),        # starts at exactly 0
        optim.cosine_decay(1e-3, CYCLE1, 1e-5),
        optim.cosine_decay(8e-4, CYCLE2, 5e-6),        # warm restart
    ],
    [WARM, WARM + CYCLE1],
)
optimizer = optim.Lion(learning_rate=schedule, betas=[0.9, 0.99], weight_decay=0.01)

Xt, yt = mx.array(X_tr_n), mx.array(y_tr_n)
Xv, yv = mx.array(X_va_n), mx.array(y_va_n)

# one-off audit: every parameter receives a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xt[:128], yt[:128])
zero_grads = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "n_params": len(tree_flatten(g0)),
                  "zero_grad": zero_grads, "ridge_val_rmse_cm": round(ridge_rmse_cm, 3)}))

state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss


BATCH = 64
t0 = time.time()
step = 0
window = []
n = Xt.shape[0]
while step < TOTAL:
    perm = mx.array(rng.permutation(n))
    for i in range(0, n - BATCH + 1, BATCH):
        idx = perm[i:i + BATCH]
        lr_now = float(schedule(step))
        loss = train_step(Xt[idx], yt[idx])
        mx.eval(loss, model.parameters(), optimizer.state)
        window.append(loss.item())
        step += 1
        if step % 100 == 0 or step == 1:
            val_rmse_cm = math.sqrt(loss_fn(model, Xv, yv).item()) * y_sd
            print(json.dumps({
                "step": step,
                "lr": float(f"{lr_now:.3e}"),
                "train_mse_std": round(sum(window) / len(window), 4),
                "val_rmse_cm": round(val_rmse_cm, 3),
                "ridge_rmse_cm": round(ridge_rmse_cm, 3),
                "vs_ridge": round(val_rmse_cm - ridge_rmse_cm, 3),
            }))
            window = []
        if step >= TOTAL:
            break

final_rmse = math.sqrt(loss_fn(model, Xv, yv).item()) * y_sd
print(json.dumps({"event": "done", "steps": step, "val_rmse_cm": round(final_rmse, 3),
                  "ridge_rmse_cm": round(ridge_rmse_cm, 3), "noise_floor_cm": 2.5,
                  "seconds": round(time.time() - t0, 2)}))
