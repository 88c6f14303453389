"""Hurdy-gurdy chien (buzzing bridge) trigger model.

Predict whether the trompette's chien buzzes on a crank stroke from 6 bench readings.
Swish activation written with a hand-made VJP, RMSprop, early stopping that restores
the best weights.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s | %(message)s")
log = logging.getLogger("chien")

rng = np.random.default_rng(7)


def make_strokes(n):
    wheel_rpm = rng.uniform(40, 140, n)          # crank speed
    rosin = rng.uniform(0, 1, n)                 # rosin freshness
    tension = rng.normal(0, 1, n)                # trompette tension, standardised
    tirant = rng.uniform(-1, 1, n)               # tirant peg offset
    humidity = rng.uniform(30, 80, n)            # % RH
    accent = rng.integers(0, 2, n).astype(float) # wrist accent (coup de poignet)
    z = (0.05 * (wheel_rpm - 90) + 1.5 * accent * (1 + rosin) - 1.2 * tirant ** 2 * 2
         + 0.8 * np.sin(2 * tension) - 0.04 * (humidity - 55) + 0.5)
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(0, 1, n) < p).astype(np.float32)
    X = np.stack([(wheel_rpm - 90) / 30, rosin * 2 - 1, tension, tirant, (humidity - 55) / 15, accent * 2 - 1], 1)
    return X.astype(np.float32), y


Xtr, ytr = make_strokes(700)
Xva, yva = make_strokes(1500)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


@mx.custom_function
def swish(x):
    return x * mx.sigmoid(x)


@swish.vjp
def swish_vjp(primals, cotangent, output):
    x = primals
    s = mx.sigmoid(x)
    return cotangent * (s + x * s * (1 - s))


class ChienNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        return self.out(swish(self.l2(swish(self.l1(x))))).squeeze(-1)


def bce(model, X, y):
    return nn.losses.binary_cross_entropy(model(X), y, with_logits=True, reduction="mean")


def auc_pct(scores, labels):
    s = np.array(scores)
    l = np.array(labels)
    order = s.argsort()
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    npos = l.sum()
    nneg = len(l) - npos
    return 100.0 * (ranks[l == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


mx.random.seed(3)
model = ChienNet()
mx.eval(model.parameters())

# audit the hand-written VJP against autodiff of the same expression
probe = mx.linspace(-6, 6, 101)
g_custom = mx.grad(lambda t: swish(t).sum())(probe)
g_auto = mx.grad(lambda t: (t * mx.sigmoid(t)).sum())(probe)
log.info("vjp audit: max|custom-auto| = %.3e over %d points", mx.abs(g_custom - g_auto).max().item(), probe.size)

loss_and_grad = nn.value_and_grad(model, bce)
_, g0 = loss_and_grad(model, Xtr[:64], ytr[:64])
nz = sum(int(mx.abs(g).sum().item() > 0) for _, g in tree_flatten(g0))
log.info("grad audit: %d/%d parameter tensors receive gradient", nz, len(tree_flatten(g0)))

opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
batch = 50
patience = 6
best_val, best_epoch, bad = math.inf, -1, 0
best_params = tree_map(lambda p: p, model.parameters())
n = Xtr.shape[0]

for epoch in range(1, 81):
    perm = mx.array(rng.permutation(n))
    run = 0.0
    for i in range(0, n, batch):
        idx = perm[i:i + batch]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item() * idx.size
    tr = run / n
    vl = bce(model, Xva, yva).item()
    auc = auc_pct(model(Xva), yva)
    if vl < best_val - 1e-4:
        best_val, best_epoch, bad = vl, epoch, 0
        best_params = tree_map(lambda p: p, model.parameters())
        flag = "*"
    else:
        bad += 1
        flag = f"({bad}/{patience})"
    log.info("epoch %02d  train %.4f  held %.4f  auc %.2f%%  %s", epoch, tr, vl, auc, flag)
    if bad >= patience:
        log.warning("no improvement for %d epochs, stopping at epoch %d", patience, epoch)
        break

model.update(best_params)
mx.eval(model.parameters())
vl = bce(model, Xva, yva).item()
auc = auc_pct(model(Xva), yva)
base = yva.mean().item()
base_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
log.info("restored epoch %d: held %.4f (best seen %.4f, diff %.1e)  auc %.2f%%", best_epoch, vl, best_val, abs(vl - best_val), auc)
log.info("reference: constant-rate predictor held %.4f  auc 50.00%%", base_ll)
