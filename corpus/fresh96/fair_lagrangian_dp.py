"""Loan-approval classifier under a demographic-parity constraint.

The classifier minimises BCE + lam * (|gap| - EPS), where gap is the
difference in mean approval probability between the two groups; lam is a
Lagrange multiplier updated by projected gradient *ascent* after every
mini-batch.  lam starts at 0.  As lam grows the BCE goes up on purpose (the
model trades accuracy for parity), then settles.  Numbers are logged as
percentages.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("fair")

EPS = 0.03          # allowed parity gap
LAM_LR = 0.5        # ascent step for the multiplier
BATCH = 256
EPOCHS = 30


def make_loans(n, rng):
    group = rng.integers(0, 2, size=n)
    income = rng.normal(0.6 * group, 1.0, size=n)
    debt = rng.normal(0.0, 1.0, size=n)
    history = rng.normal(0.3 * group, 1.0, size=n)
    noise = rng.normal(0.0, 1.0, size=(n, 3))
    logit = 1.2 * income - 0.9 * debt + 0.7 * history + 0.8 * group - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    x = np.column_stack([income, debt, history, group, noise]).astype(np.float32)
    return x, y, group.astype(np.float32)


def parity_gap(p, g):
    n1 = mx.maximum(g.sum(), 1.0)
    n0 = mx.maximum((1 - g).sum(), 1.0)
    return (p * g).sum() / n1 - (p * (1 - g)).sum() / n0


class Scorer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 32), nn.GELU(), nn.Linear(32, 16), nn.GELU())
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def main():
    rng = np.random.default_rng(11)
    xtr, ytr, gtr = make_loans(6000, rng)
    xte, yte, gte = make_loans(3000, rng)
    Xte, Yte, Gte = map(mx.array, (xte, yte, gte))

    mx.random.seed(11)
    model = Scorer(xtr.shape[1])
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)

    def lagrangian(model, x, y, g, lam):
        logits = model(x)
        bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True)
        viol = mx.abs(parity_gap(mx.sigmoid(logits), g)) - EPS
        return bce + lam * viol, (bce, viol)

    loss_and_grad = nn.value_and_grad(model, lagrangian)

    # sanity check: every leaf gets a gradient on the first batch (lam > 0 here
    # only for the check, so the penalty path is exercised too)
    _, g0 = loss_and_grad(model, mx.array(xtr[:BATCH]), mx.array(ytr[:BATCH]),
                          mx.array(gtr[:BATCH]), mx.array(1.0))
    from mlx.utils import tree_flatten
    assert all(mx.abs(v).sum().item() > 0 for _, v in tree_flatten(g0)), "dead leaf"

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y, g, lam):
        (_, (bce, viol)), grads = loss_and_grad(model, x, y, g, lam)
        opt.update(model, grads)
        return bce, viol

    lam = 0.0
    n = xtr.shape[0]
    n_batches = n // BATCH   # drop the ragged tail; shapes stay fixed for compile
    log.info("train=%d test=%d batches/epoch=%d eps=%.1f%%", n, xte.shape[0], n_batches, 100 * EPS)
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(n)
        bce_sum = viol_sum = 0.0
        for b in range(n_batches):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            bce, viol = step(mx.array(xtr[idx]), mx.array(ytr[idx]), mx.array(gtr[idx]),
                             mx.array(lam))
            mx.eval(bce, viol, model.state, opt.state)
            v = viol.item()
            lam = max(0.0, lam + LAM_LR * v)      # projected ascent on the multiplier
            bce_sum += bce.item()
            viol_sum += v
        if epoch % 3 == 0 or epoch == 1:
            p = mx.sigmoid(model(Xte))
            acc = ((p > 0.5) == (Yte > 0.5)).mean().item()
            gap = parity_gap(p, Gte).item()
            log.info("epoch %02d  train_bce=%.4f  test_acc=%.1f%%  test_gap=%+.1f%%  "
                     "mean_violation=%+.2f%%  lambda=%.3f", epoch, bce_sum / n_batches,
                     100 * acc, 100 * gap, 100 * viol_sum / n_batches, lam)


if __name__ == "__main__":
    main()
