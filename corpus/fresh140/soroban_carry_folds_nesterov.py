"""Soroban (Japanese abacus) carry reader.

Two 2-digit numbers are read off a soroban as bead states (one heaven bead
+ four earth beads per rod, so 5 binary bead flags per rod, 20 flags in all).
A small MLP learns to write the three digits of the sum. 3-fold cross
validation, compiled training step, SGD with Nesterov momentum, early stopping
on held-out loss with the best weights restored at the end of each fold.
"""
import logging
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("soroban")

rng = random.Random(3)
mx.random.seed(3)


def rod_beads(d):
    heaven = 1 if d >= 5 else 0
    earth = d % 5
    return [heaven] + [1 if i < earth else 0 for i in range(4)]


pairs = [(rng.randrange(100), rng.randrange(100)) for _ in range(1200)]
feats, digits = [], []
for a, b in pairs:
    f = []
    for n in (a, b):
        f += rod_beads(n // 10) + rod_beads(n % 10)
    s = a + b
    feats.append(f)
    digits.append([s // 100, (s // 10) % 10, s % 10])
X = mx.array(feats, dtype=mx.float32)
Y = mx.array(digits, dtype=mx.int32)
N = X.shape[0]


class SumWriter(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(20, 192), nn.ReLU(), nn.Linear(192, 192), nn.ReLU())
        self.head = nn.Linear(192, 30)

    def __call__(self, x):
        return self.head(self.body(x)).reshape(-1, 3, 10)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def digit_acc(model, x, y):
    pred = mx.argmax(model(x), axis=-1)
    per_digit = mx.mean(pred == y).item()
    whole = mx.mean(mx.all(pred == y, axis=-1)).item()
    return per_digit, whole


folds = 3
order = list(range(N))
rng.shuffle(order)
fold_size = N // folds
summary = []
for fold in range(folds):
    va_idx = mx.array(order[fold * fold_size:(fold + 1) * fold_size])
    tr_idx = mx.array(order[:fold * fold_size] + order[(fold + 1) * fold_size:])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    # majority digit per position, from the training part only
    maj = [int(mx.argmax(mx.bincount(ytr[:, j], minlength=10) if hasattr(mx, "bincount") else
                         mx.sum(ytr[:, j:j + 1] == mx.arange(10), axis=0)).item()) for j in range(3)]
    base_acc = mx.mean(yva == mx.array(maj)).item()

    model = SumWriter()
    opt = optim.SGD(learning_rate=0.15, momentum=0.9, nesterov=True)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    best, best_epoch, best_params, patience, bad = float("inf"), -1, None, 5, 0
    ntr = xtr.shape[0]
    for epoch in range(60):
        perm = mx.random.permutation(ntr)
        tot = 0.0
        nb = 0
        for s in range(0, ntr, 100):
            bi = perm[s:s + 100]
            loss = step(xtr[bi], ytr[bi])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        vloss = loss_fn(model, xva, yva).item()
        dacc, wacc = digit_acc(model, xva, yva)
        if epoch % 3 == 0 or bad >= patience - 1:
            log.info("fold %d epoch %02d  xent %.4f | held-out xent %.4f  digits %.1f%%  sums %.1f%%  (majority-digit %.1f%%)",
                     fold + 1, epoch + 1, tot / nb, vloss, 100 * dacc, 100 * wacc, 100 * base_acc)
        if vloss < best - 1e-4:
            best, best_epoch, bad = vloss, epoch + 1, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= patience:
                log.info("fold %d: no improvement for %d epochs, stopping at epoch %d", fold + 1, patience, epoch + 1)
                break
    model.update(best_params)
    dacc, wacc = digit_acc(model, xva, yva)
    log.info("fold %d: restored epoch %d weights, held-out xent %.4f, sums right %.1f%%",
             fold + 1, best_epoch, loss_fn(model, xva, yva).item(), 100 * wacc)
    gl, gr = nn.value_and_grad(model, loss_fn)(model, xtr[:200], ytr[:200])
    zero = [k for k, g in tree_flatten(gr) if mx.abs(g).max().item() == 0.0]
    log.info("fold %d gradient audit: %d tensors, %d with all-zero grad", fold + 1, len(tree_flatten(gr)), len(zero))
    summary.append((fold + 1, best_epoch, best, dacc, wacc, base_acc))

print()
print("fold | best ep | held-out xent | digit acc | sum acc | majority")
for f, be, b, d, w, ba in summary:
    print(f"{f:>4} | {be:>7} | {b:>13.4f} | {100*d:>8.1f}% | {100*w:>6.1f}% | {100*ba:>7.1f}%")
print(f"mean sum accuracy over folds: {100*sum(r[4] for r in summary)/folds:.1f}%")
