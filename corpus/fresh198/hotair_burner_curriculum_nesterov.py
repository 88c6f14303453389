"""Hot-air balloon: predict climb over the next 30 s (metres) from burner/envelope readings.

Two-stage curriculum: calm morning air first, then afternoon thermals (harder, noisier).
Each stage restarts its own step counter, uses early stopping and restores its best weights.
The train step is compiled; optimizer is SGD with Nesterov momentum.
"""
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(42)


def flights(n, thermals):
    env_c = rng.uniform(85, 120, n)            # envelope air temperature, C
    amb_c = rng.uniform(2, 18, n) + (10 if thermals else 0)
    duty = rng.uniform(0, 1, n)                # burner duty over next 30 s
    load = rng.uniform(280, 520, n)            # gross load, kg
    vz = rng.normal(0, 0.6, n)                 # current vertical speed, m/s
    alt = rng.uniform(50, 900, n)              # altitude above ground, m
    lift = (env_c - amb_c) * (1 - alt / 9000) * 0.042 - load / 520.0
    climb = 30 * (0.55 * vz + 0.9 * lift + 1.1 * duty - 0.45)
    if thermals:
        climb += 6.0 * np.sin(alt / 120.0) * (amb_c > 20) + rng.normal(0, 3.0, n)
        climb += 2.5 * duty * np.tanh((amb_c - 20) / 3)
    else:
        climb += rng.normal(0, 0.8, n)
    X = np.stack([env_c, amb_c, duty, load, vz, alt], 1).astype(np.float32)
    return X, climb.astype(np.float32)


Xc, yc = flights(1400, thermals=False)
Xt, yt = flights(1400, thermals=True)
allX = np.concatenate([Xc, Xt])
xm, xs = allX.mean(0), allX.std(0)
ys = 20.0


def prep(X, y):
    return mx.array((X - xm) / xs), mx.array(y / ys)


stages = []
for name, X, y in [("calm", Xc, yc), ("thermals", Xt, yt)]:
    tr = prep(X[:1100], y[:1100])
    va = prep(X[1100:], y[1100:])
    # reference: ordinary least squares on the same split, metres
    A = np.c_[X[:1100], np.ones(1100)]
    w, *_ = np.linalg.lstsq(A, y[:1100], rcond=None)
    ref = float(np.sqrt(np.mean((np.c_[X[1100:], np.ones(300)] @ w - y[1100:]) ** 2)))
    stages.append((name, tr, va, ref))


class ClimbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


mx.random.seed(5)
model = ClimbNet()
opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
state = [model.state, opt.state]
loss_grad = nn.value_and_grad(model, mse)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = loss_grad(model, x, y)
    g, gnorm = optim.clip_grad_norm(g, 5.0)
    opt.update(model, g)
    return loss, gnorm


def bar(i, n, width=24):
    k = int(width * i / n)
    return "|" + "#" * k + " " * (width - k) + "|"


BATCH = 50
MAX_STEPS = 900
PATIENCE = 6
EVAL_EVERY = 30
t_start = time.time()
for s_idx, (name, (xtr, ytr), (xva, yva), ref_rmse) in enumerate(stages, 1):
    best = float("inf")
    best_params = None
    bad = 0
    step = 0
    n = xtr.shape[0]
    while step < MAX_STEPS:
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, gnorm = train_step(xtr[idx], ytr[idx])
        mx.eval(state, loss, gnorm)
        step += 1
        if step % EVAL_EVERY == 0:
            v = mse(model, xva, yva).item()
            rmse_m = (v ** 0.5) * ys
            mark = ""
            if v < best - 1e-5:
                best, bad, mark = v, 0, "*"
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
                mx.eval(best_params)
            else:
                bad += 1
            sys.stdout.write(f"stage {s_idx}/2 {name:<8} {bar(step, MAX_STEPS)} {step:4d}/{MAX_STEPS} "
                             f"[loss={loss.item():.4f} |g|={gnorm.item():.3f} val_rmse={rmse_m:5.2f}m "
                             f"ols={ref_rmse:5.2f}m]{mark}\n")
            if bad >= PATIENCE:
                sys.stdout.write(f"stage {s_idx}/2 early stop at step {step}, restoring best "
                                 f"(val_rmse={best ** 0.5 * ys:.2f}m)\n")
                break
    model.update(best_params)
    mx.eval(model.parameters())
    final = mse(model, xva, yva).item() ** 0.5 * ys
    print(f"== stage {name}: restored val_rmse {final:.2f} m vs OLS {ref_rmse:.2f} m "
          f"({100 * (1 - final / ref_rmse):.1f}% better)")

# after the thermal stage, does the model still fly calm air?
calm_va = stages[0][2]
print(f"== calm-air recheck after curriculum: {mse(model, *calm_va).item() ** 0.5 * ys:.2f} m; "
      f"params={sum(v.size for _, v in tree_flatten(model.parameters()))}; {time.time() - t_start:.1f}s")
