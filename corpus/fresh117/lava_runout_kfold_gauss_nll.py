"""Lava-flow runout: heteroscedastic Gaussian regression, 4-fold cross-validation.

Each fold trains a fresh network from its own seed.  The objective is the full
Gaussian negative log-likelihood (with the 0.5*log(2*pi) constant) on the
standardised runout, so it goes negative once the predicted spread is tight.
"""
import math
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class FoldReport:
    fold: int
    epoch: int
    lr: float
    train_nll: object
    val_nll: float
    val_rmse_km: float
    cover_90_pct: float
    secs: float


def simulate_flows(n, rng):
    effusion = rng.lognormal(mean=3.0, sigma=0.6, size=n)          # m^3/s
    slope = rng.uniform(2.0, 25.0, size=n)                         # degrees
    log_visc = rng.normal(4.0, 0.8, size=n)                        # log10 Pa s
    crust_t = rng.uniform(700.0, 1150.0, size=n)                   # deg C
    vent_h = rng.uniform(200.0, 3000.0, size=n)                    # m
    base = (1.8 * np.log(effusion) + 0.35 * np.sqrt(slope) * 3.0
            - 1.2 * (log_visc - 4.0) + 0.004 * (crust_t - 900.0)
            + 0.0004 * vent_h)
    spread = 0.08 + 0.01 * effusion ** 0.8                         # noisier for big eruptions
    runout = base + spread * rng.standard_normal(n)
    X = np.stack([np.log(effusion), slope, log_visc, crust_t, vent_h], axis=1)
    return X.astype(np.float32), runout.astype(np.float32)


class SpreadNet(nn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mean_head = nn.Linear(hidden, 1)
        self.logvar_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return mx.mean(0.5 * logvar + 0.5 * (y - mu) ** 2 * mx.exp(-logvar)) + HALF_LOG_2PI


def evaluate(model, x, y, y_scale):
    mu, logvar = model(x)
    nll = mx.mean(0.5 * logvar + 0.5 * (y - mu) ** 2 * mx.exp(-logvar)) + HALF_LOG_2PI
    rmse = mx.sqrt(mx.mean((y - mu) ** 2)) * y_scale
    half = 1.6449 * mx.exp(0.5 * logvar)
    cover = mx.mean((mx.abs(y - mu) <= half).astype(mx.float32)) * 100.0
    mx.eval(nll, rmse, cover)
    return nll.item(), rmse.item(), cover.item()


def run_fold(fold, tr_idx, va_idx, X, y, epochs=30, batch=64):
    mx.random.seed(100 + fold)
    rng = np.random.default_rng(200 + fold)
    x_mu, x_sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    y_mu, y_sd = y[tr_idx].mean(), y[tr_idx].std()
    xtr = mx.array((X[tr_idx] - x_mu) / x_sd)
    ytr = mx.array((y[tr_idx] - y_mu) / y_sd)
    xva = mx.array((X[va_idx] - x_mu) / x_sd)
    yva = mx.array((y[va_idx] - y_mu) / y_sd)

    model = SpreadNet(X.shape[1], 48)
    steps_per_epoch = len(tr_idx) // batch
    sched = optim.cosine_decay(3e-3, epochs * steps_per_epoch, end=1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, gaussian_nll)

    if fold == 0:
        _, g0 = loss_and_grad(model, xtr[:batch], ytr[:batch])
        leaves = tree_flatten(g0)
        dead = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
        print(repr({"grad_check": "fold0 step0", "leaves": len(leaves), "all_zero": dead}))
        assert not dead

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        return loss

    t0 = time.perf_counter()
    vn, vr, vc = evaluate(model, xva, yva, float(y_sd))
    print(repr(FoldReport(fold, 0, round(float(sched(0).item()), 6), None, round(vn, 4), round(vr, 3), round(vc, 1), 0.0)))
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(tr_idx)).astype(np.int32))
        total = 0.0
        for b in range(steps_per_epoch):
            ids = perm[b * batch:(b + 1) * batch]
            loss = step(xtr[ids], ytr[ids])
            mx.eval(loss, state)
            total += loss.item()
        if epoch in (1, 3, 10, 20, 30):
            vn, vr, vc = evaluate(model, xva, yva, float(y_sd))
            rep = FoldReport(fold, epoch, round(opt.learning_rate.item(), 6),
                             round(total / steps_per_epoch, 4), round(vn, 4),
                             round(vr, 3), round(vc, 1), round(time.perf_counter() - t0, 1))
            print(repr(rep))
    return vn, vr, vc


def main():
    rng = np.random.default_rng(7)
    X, y = simulate_flows(4000, rng)
    folds = np.array_split(rng.permutation(len(y)), 4)
    print(repr({"rows": len(y), "folds": [len(f) for f in folds],
                "runout_km_mean": round(float(y.mean()), 2), "runout_km_sd": round(float(y.std()), 2)}))
    results = []
    for k in range(4):
        va_idx = folds[k]
        tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
        results.append(run_fold(k, tr_idx, va_idx, X, y))
    arr = np.array(results)
    print(repr({"cv_val_nll": round(float(arr[:, 0].mean()), 4),
                "cv_val_rmse_km": round(float(arr[:, 1].mean()), 3),
                "cv_cover_90_pct": round(float(arr[:, 2].mean()), 1)}))


if __name__ == "__main__":
    main()
