"""Vineyard block sensor -> (harvest Brix, mildew risk class), one shared trunk.

Two tasks weighted by learned homoscedastic uncertainty (Kendall et al.):
    L = 0.5*exp(-s_reg)*mse + 0.5*s_reg + exp(-s_cls)*ce + 0.5*s_cls
so the objective can go below zero once the regression noise is learned.
Optimiser: Adam wrapped in a hand-written Lookahead (k=5, alpha=0.5).
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s: %(message)s")
log = logging.getLogger("vineyard")

FEATURES = ["gdd", "rain_mm", "leaf_wet_h", "canopy_ndvi", "soil_n", "slope", "row_aspect", "vine_age"]


def make_blocks(n, rng):
    x = rng.standard_normal((n, len(FEATURES))).astype(np.float32)
    brix = (21.0 + 1.8 * np.tanh(x[:, 0]) - 0.9 * x[:, 1] + 0.6 * x[:, 3] * x[:, 4]
            + 0.4 * np.sin(2.0 * x[:, 6]) + 0.30 * rng.standard_normal(n))
    z = np.stack([
        np.zeros(n),
        1.2 * x[:, 2] + 0.8 * x[:, 1] - 0.5 * x[:, 5],
        2.0 * x[:, 2] + 1.2 * x[:, 1] * (x[:, 1] > 0) - 0.7 * x[:, 7] - 1.0,
    ], axis=1)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    u = rng.random((n, 1))
    risk = (u > np.cumsum(p, 1)).sum(1).astype(np.int32)
    return x, brix.astype(np.float32), risk


class TwoHeaded(nn.Module):
    def __init__(self, d_in, width=64, n_cls=3):
        super().__init__()
        self.fc1 = nn.Linear(d_in, width)
        self.fc2 = nn.Linear(width, width)
        self.brix_head = nn.Linear(width, 1)
        self.risk_head = nn.Linear(width, n_cls)
        # log-variances of the two tasks, trained with everything else
        self.s_reg = mx.zeros((1,))
        self.s_cls = mx.zeros((1,))

    def __call__(self, x):
        h = nn.silu(self.fc2(nn.silu(self.fc1(x))))
        return self.brix_head(h).squeeze(-1), self.risk_head(h)


def objective(model, x, y_std, c):
    pred, logits = model(x)
    mse = mx.mean((pred - y_std) ** 2)
    ce = mx.mean(nn.losses.cross_entropy(logits, c))
    s_r, s_c = model.s_reg[0], model.s_cls[0]
    total = 0.5 * mx.exp(-s_r) * mse + 0.5 * s_r + mx.exp(-s_c) * ce + 0.5 * s_c
    return total, (mse, ce)


class Lookahead:
    """Slow weights pulled toward the fast (inner optimiser) weights every k steps."""

    def __init__(self, inner, model, k=5, alpha=0.5):
        self.inner, self.k, self.alpha = inner, k, alpha
        self.slow = tree_map(lambda p: mx.array(p), model.trainable_parameters())
        self.count = 0

    def update(self, model, grads):
        self.inner.update(model, grads)
        self.count += 1
        if self.count % self.k == 0:
            fast = model.trainable_parameters()
            self.slow = tree_map(lambda s, f: s + self.alpha * (f - s), self.slow, fast)
            model.update(self.slow)

    @property
    def state(self):
        return [self.inner.state, self.slow]


def main():
    rng = np.random.default_rng(92)
    mx.random.seed(92)
    xtr, ytr, ctr = make_blocks(8000, rng)
    xte, yte, cte = make_blocks(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    log.info("blocks train=%d test=%d  brix mean %.2f sd %.2f  risk shares %s", len(xtr), len(xte), ymu, ysd,
             np.round(np.bincount(ctr, minlength=3) / len(ctr), 3).tolist())

    Xtr, Ytr, Ctr = mx.array(xtr), mx.array((ytr - ymu) / ysd), mx.array(ctr)
    Xte, Cte = mx.array(xte), mx.array(cte)

    model = TwoHeaded(len(FEATURES))
    mx.eval(model.parameters())
    grad_fn = nn.value_and_grad(model, objective)

    (l0, _), g0 = grad_fn(model, Xtr[:128], Ytr[:128], Ctr[:128])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.max(mx.abs(v))) == 0.0]
    log.info("first-step gradient: %d leaves, all-zero leaves %s, objective %.4f", len(leaves), zero, l0.item())

    opt = Lookahead(optim.Adam(learning_rate=2e-3), model, k=5, alpha=0.5)

    def evaluate():
        pred, logits = model(Xte)
        rmse = math.sqrt(float(mx.mean((pred * ysd + ymu - mx.array(yte)) ** 2)))
        acc = 100.0 * float(mx.mean(mx.argmax(logits, -1) == Cte))
        return rmse, acc

    rmse, acc = evaluate()
    log.info("untrained: test rmse %.3f Brix, risk accuracy %.1f%%", rmse, acc)
    bs, t0 = 64, time.perf_counter()
    EPOCHS = 30
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(len(xtr))
        tot_sum = mse_sum = ce_sum = 0.0
        nb = 0
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            (loss, (mse, ce)), grads = grad_fn(model, Xtr[idx], Ytr[idx], Ctr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, mse, ce)
            tot_sum += loss.item(); mse_sum += mse.item(); ce_sum += ce.item(); nb += 1
        if epoch > 2 and epoch % 3:
            continue
        rmse, acc = evaluate()
        sig_brix = math.exp(0.5 * model.s_reg.item()) * ysd
        log.info("epoch %2d  objective %+.4f  mse(std) %.4f  ce %.4f  sigma_brix %.3f  w_cls %.3f  "
                 "test rmse %.3f Brix  risk acc %.1f%%  %.1fs", epoch, tot_sum / nb, mse_sum / nb, ce_sum / nb,
                 sig_brix, math.exp(-model.s_cls.item()), rmse, acc, time.perf_counter() - t0)
    log.info("done: noise floor 0.30 Brix, final rmse %.3f Brix, accuracy %.1f%%", rmse, acc)


if __name__ == "__main__":
    main()
