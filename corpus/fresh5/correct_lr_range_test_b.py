"""LR range test ("LR finder") followed by a short real training run.

Phase 1 sweeps the learning rate exponentially from 1e-5 to 10 on a throw-away copy of the
initial weights; the smoothed loss first falls, then climbs steeply once the rate is too large.
The sweep stops by itself when the smoothed loss exceeds 4x its best value (standard practice).
Phase 2 restores the initial weights and trains with lr = (lr at min loss) / 10."""
import math

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


def make_data(n, rng):
    x = rng.normal(size=(n, 10)).astype(np.float32)
    w = rng.normal(size=(10, 4))
    y = np.argmax(x @ w + 0.3 * rng.normal(size=(n, 4)), axis=1).astype(np.int32)
    return mx.array(x), mx.array(y)


def build():
    return nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    x, y = make_data(4096, rng)
    model = build()
    init = tree_map(lambda p: mx.array(p), model.parameters())

    # ---- phase 1: range test
    lr_min, lr_max, n_steps = 1e-5, 10.0, 150
    gamma = (lr_max / lr_min) ** (1 / n_steps)
    opt = optim.SGD(learning_rate=lr_min, momentum=0.9)
    vg = nn.value_and_grad(model, ce)
    smooth, best, best_lr, history = None, float("inf"), lr_min, []
    lr = lr_min
    print("phase 1: LR range test")
    for i in range(n_steps):
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, x.shape[0], 64))
        loss, grads = vg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        l = loss.item()
        smooth = l if smooth is None else 0.9 * smooth + 0.1 * l
        history.append((lr, smooth))
        if smooth < best:
            best, best_lr = smooth, lr
        if i % 10 == 0:
            print(f"  lr={lr:9.2e}  smoothed_loss={smooth:8.4f}")
        if i > 10 and (smooth > 4 * best or not math.isfinite(l)):
            print(f"  lr={lr:9.2e}  smoothed_loss={smooth:8.4f}  -> stopping: loss > 4x best")
            break
        lr *= gamma
    chosen = best_lr / 10
    print(f"min smoothed loss {best:.4f} at lr={best_lr:.2e}; using lr={chosen:.2e}")

    # ---- phase 2: real training from the initial weights
    model.update(init)
    opt = optim.SGD(learning_rate=chosen, momentum=0.9)
    vg = nn.value_and_grad(model, ce)
    print("phase 2: training")
    for epoch in range(1, 6):
        perm = mx.array(rng.permutation(x.shape[0]))
        tot = 0.0
        for b in range(0, x.shape[0], 64):
            idx = perm[b:b + 64]
            loss, grads = vg(model, x[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        acc = (model(x).argmax(-1) == y).mean().item()
        print(f"  epoch {epoch}  loss={tot / (x.shape[0] // 64):.4f}  acc={acc:.3f}")


if __name__ == "__main__":
    main()
