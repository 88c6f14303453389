"""Foraging-club spore print guesser.

Predict the spore print colour of a gilled mushroom (white / cream / pink /
brown / black) from 10 field-notebook measurements, synthetic. A fixed random
projection (frozen on purpose) feeds a small trainable head. Training is a
two-stage curriculum: textbook specimens first, then the full notebook with
the messy, ambiguous finds mixed in.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

COLOURS = ["white", "cream", "pink", "brown", "black"]
F, K = 10, len(COLOURS)
rs = np.random.RandomState(424)
centres = rs.normal(0, 1.6, size=(K, F))


def specimens(n, noise, swap_frac):
    y = rs.randint(0, K, size=n)
    x = centres[y] + rs.normal(0, noise, size=(n, F))
    # messy finds: some notebook fields were copied from a look-alike species
    swap = rs.rand(n, F) < swap_frac
    other = centres[(y + rs.randint(1, K, size=n)) % K]
    x = np.where(swap, other + rs.normal(0, noise, size=(n, F)), x)
    return x.astype(np.float32), y.astype(np.int32)


x_easy, y_easy = specimens(700, 0.55, 0.0)
x_hard, y_hard = specimens(1100, 1.15, 0.2)
x_test, y_test = specimens(600, 1.15, 0.2)
mean, std = x_easy.mean(0), x_easy.std(0) + 1e-6
norm = lambda a: mx.array((a - mean) / std)


class SporeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(F, 96)          # random features, frozen below
        self.head = nn.Sequential(nn.Linear(96, 48), nn.GELU(), nn.Linear(48, K))

    def __call__(self, x):
        return self.head(mx.cos(self.proj(x)))


mx.random.seed(11)
net = SporeNet()
net.proj.freeze()
mx.eval(net.parameters())
n_frozen = sum(v.size for _, v in tree_flatten(net.proj.parameters()))
n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
print(f"spore net: {n_train} trainable params, {n_frozen} frozen (random cosine projection)")


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


step_fn = nn.value_and_grad(net, xent)
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
proj_before = np.array(net.proj.weight)


def accuracy(x, y):
    pred = mx.argmax(net(x), axis=1)
    return float(mx.mean(pred == y).item()) * 100.0


def bar(done, total, width=24):
    fill = int(width * done / total)
    return "|" + "#" * fill + " " * (width - fill) + "|"


stages = [
    ("textbook", x_easy, y_easy, 480),
    ("full notebook", np.concatenate([x_easy, x_hard]), np.concatenate([y_easy, y_hard]), 1200),
]
xt, yt = norm(x_test), mx.array(y_test)
BATCH = 48
for s, (name, xs, ys, steps) in enumerate(stages, 1):
    X, Y = norm(xs), mx.array(ys)
    n = X.shape[0]
    t0 = time.time()
    run = 0.0
    for it in range(1, steps + 1):
        idx = mx.array(rs.randint(0, n, size=BATCH))
        loss, grads = step_fn(net, X[idx], Y[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        run = loss.item() if it == 1 else 0.9 * run + 0.1 * loss.item()
        if it % 120 == 0 or it == 1:
            rate = it / max(time.time() - t0, 1e-6)
            sys.stdout.write(
                f"stage {s}/{len(stages)} {name:<13} {100*it//steps:3d}%{bar(it, steps)} "
                f"{it}/{steps} [{rate:6.0f} it/s, xent={run:.3f}]\n"
            )
    print(f"  -> after '{name}': holdout {accuracy(xt, yt):.1f}% (chance 20.0%), "
          f"stage-train {accuracy(X, Y):.1f}%")

drift = float(np.abs(np.array(net.proj.weight) - proj_before).max())
print(f"frozen projection max |dW| = {drift:.2e}")
print("per-colour holdout recall")
print(f"{'colour':<7}|{'n':>5} |{'recall':>8}")
pred = np.array(mx.argmax(net(xt), axis=1))
for k, c in enumerate(COLOURS):
    m = y_test == k
    print(f"{c:<7}|{m.sum():>5} |{100.0 * (pred[m] == k).mean():>7.1f}%")
