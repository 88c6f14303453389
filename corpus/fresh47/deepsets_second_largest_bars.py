"""DeepSets regression: predict the second-largest value of an unordered set of 12 reals.

phi (per-element MLP) -> sum pool and max pool -> rho MLP -> scalar.
Adamax optimizer; every 250 steps an ASCII bar shows held-out MAE relative to the
"predict the set max" heuristic baseline (shorter bar = better).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SET = 12
rng = np.random.default_rng(7)


def make_sets(n):
    x = rng.uniform(-1.0, 1.0, size=(n, SET, 1)).astype(np.float32)
    s = np.sort(x[:, :, 0], axis=1)
    return x, s[:, -2:-1].astype(np.float32), s[:, -1:].astype(np.float32)


class DeepSet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(1, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(2 * h, h), nn.ReLU(), nn.Linear(h, 1))

    def __call__(self, x):
        e = self.phi(x)                      # (B, SET, h)
        pooled = mx.concatenate([e.mean(axis=1), e.max(axis=1)], axis=-1)
        return self.rho(pooled)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.1, reduction="mean")


model = DeepSet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

xv, yv, maxv = make_sets(2000)
xv, yv = mx.array(xv), mx.array(yv)
baseline_mae = float(np.mean(np.abs(maxv - np.array(yv))))

# first-step gradient check
x0, y0, _ = make_sets(256)
_, g0 = vg(model, mx.array(x0), mx.array(y0))
zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} leaves, all-zero: {zero or 'none'}")
print(f"baseline (predict max of set) held-out MAE = {baseline_mae:.4f}")

STEPS, EVERY, WIDTH = 2000, 250, 40
t0 = time.time()
for step in range(1, STEPS + 1):
    xb, yb, _ = make_sets(256)
    loss, g = vg(model, mx.array(xb), mx.array(yb))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % EVERY == 0:
        mae = mx.abs(model(xv) - yv).mean().item()
        ratio = mae / baseline_mae
        n = max(1, min(WIDTH, int(round(ratio * WIDTH))))
        print(f"step {step:5d} |{'#' * n}{'.' * (WIDTH - n)}| mae {mae:.4f} ({ratio:5.1%} of baseline)")
print(f"done in {time.time() - t0:.1f}s")
