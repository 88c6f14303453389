"""Surrogate for a damped spring: predict the displacement at time t from
(mass, stiffness, damping, x0, t). MLP, log-cosh loss, SGD+Nesterov with a
warmup-then-cosine schedule. Silent while training; a summary at the end."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def simulate(rng, n):
    m = rng.uniform(0.5, 2.0, n)
    k = rng.uniform(1.0, 6.0, n)
    c = rng.uniform(0.1, 1.0, n)
    x0 = rng.uniform(-1.0, 1.0, n)
    t = rng.uniform(0.0, 4.0, n)
    w0 = np.sqrt(k / m)
    zeta = c / (2 * np.sqrt(k * m))
    wd = w0 * np.sqrt(1 - zeta ** 2)
    x = x0 * np.exp(-zeta * w0 * t) * (np.cos(wd * t) + zeta / np.sqrt(1 - zeta ** 2) * np.sin(wd * t))
    X = np.stack([m, k, c, x0, t], 1).astype(np.float32)
    return X, x.astype(np.float32)


class Surrogate(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(5, width), nn.GELU(),
            nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, 1),
        )

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def log_cosh(pred, y):
    d = pred - y
    return mx.mean(mx.logaddexp(d, -d) - math.log(2.0))


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    Xtr, ytr = simulate(rng, 12000)
    Xte, yte = simulate(rng, 3000)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))

    model = Surrogate()
    epochs, bs = 28, 128
    steps_per_epoch = Xtr.shape[0] // bs
    total = epochs * steps_per_epoch
    warm = total // 10
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-3, 0.05, warm), optim.cosine_decay(0.05, total - warm, end=5e-4)],
        [warm],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, lambda m, x, y: log_cosh(m(x), y))

    _, g0 = vg(model, Xtr[:bs], ytr[:bs])
    zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
    assert not zero, f"leaves with zero gradient at step 1: {zero}"

    epoch_loss = []
    t0 = time.time()
    for ep in range(epochs):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        epoch_loss.append(run / steps_per_epoch)

    pred = model(Xte)
    resid = np.array(pred - yte)
    r2 = 1 - resid.var() / np.array(yte).var()
    el = np.array(epoch_loss)
    print("=== spring surrogate: training summary ===")
    print(f"epochs={epochs} steps={total} wall={time.time() - t0:.1f}s final_lr={opt.learning_rate.item():.2e}")
    print(f"mean train log-cosh per epoch: first={el[0]:.5f} p90={np.percentile(el, 90):.5f} "
          f"p50={np.percentile(el, 50):.5f} p10={np.percentile(el, 10):.5f} last={el[-1]:.5f}")
    print(f"held-out: rmse={np.sqrt((resid ** 2).mean()):.4f} mae={np.abs(resid).mean():.4f} R2={r2:.4f} "
          f"(predict-zero rmse={np.sqrt((np.array(yte) ** 2).mean()):.4f})")


if __name__ == "__main__":
    main()
