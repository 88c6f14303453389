"""Hoist-brake condition of harbour container cranes: 4-fold cross-validation.

Classes: 0 ok, 1 glazed lining, 2 worn lining, 3 oil-contaminated.
Eight synthetic maintenance readings per brake test. Each fold trains a fresh
model and a fresh optimizer from scratch; the training loss uses label
smoothing 0.1, so it cannot go below ~0.3 nats even when every label is right.
Silent while a fold trains; one table per fold afterwards.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["ok", "glazed", "worn", "contaminated"]
N_FOLDS = 4
EPOCHS = 12
BATCH = 64
REPORT_EPOCHS = (1, 2, 4, 8, 12)


def make_brake_tests(n, rng):
    y = rng.integers(0, 4, size=n)
    # latent state: lining thickness, friction coefficient, oil film
    thick = np.where(y == 2, rng.normal(0.35, 0.12, n), rng.normal(0.8, 0.12, n))
    mu = np.where(y == 1, rng.normal(0.25, 0.05, n), rng.normal(0.42, 0.05, n))
    oil = np.where(y == 3, rng.gamma(3.0, 0.25, n), rng.gamma(1.0, 0.08, n))
    load = rng.uniform(10, 45, n)  # tonnes on the spreader during the test
    temp = rng.normal(18, 7, n)    # ambient C
    stop_dist = load / (mu * 90 + 1) * (1 + 0.8 * oil) + rng.normal(0, 0.15, n)
    pad_temp = temp + 4 * load * mu / np.maximum(thick, 0.05) ** 0.5 + rng.normal(0, 3, n)
    squeal = np.tanh(3 * (0.3 - mu)) + rng.normal(0, 0.25, n)
    gap = 1.2 - thick + rng.normal(0, 0.08, n)
    smell = oil * 2 + rng.normal(0, 0.3, n)
    feats = np.stack([load, temp, stop_dist, pad_temp, squeal, gap, smell,
                      rng.normal(0, 1, n)], axis=1).astype(np.float32)
    return feats, y.astype(np.int32)


class BrakeNet(nn.Module):
    def __init__(self, d_in=8, hidden=64, n_cls=4):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h)) + h
        return self.out(h)


def smoothed_ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1, reduction="mean")


def error_pct(model, x, y):
    pred = mx.argmax(model(x), axis=1)
    return 100.0 * (1.0 - mx.mean(pred == y).item())


def run_fold(k, Xtr, ytr, Xva, yva, seed):
    mx.random.seed(seed)
    model = BrakeNet()
    mx.eval(model.parameters())
    opt = optim.Adafactor(learning_rate=4e-3, relative_step=False,
                          scale_parameter=False)
    loss_and_grad = nn.value_and_grad(model, smoothed_ce)

    # eager gradient audit on the first batch of the fold
    _, g0 = loss_and_grad(model, mx.array(Xtr[:BATCH]), mx.array(ytr[:BATCH]))
    leaves = tree_flatten(g0)
    zero = [name for name, g in leaves if mx.all(g == 0).item()]

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    rows = []
    xva, yva_m = mx.array(Xva), mx.array(yva)
    rows.append((0, float("nan"), smoothed_ce(model, xva, yva_m).item(),
                 error_pct(model, xva, yva_m)))
    perm_rng = np.random.default_rng(seed)
    n_batches = len(Xtr) // BATCH
    for epoch in range(1, EPOCHS + 1):
        order = perm_rng.permutation(len(Xtr))
        total = 0.0
        for b in range(n_batches):
            idx = order[b * BATCH:(b + 1) * BATCH]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(loss, state)
            total += loss.item()
        if epoch in REPORT_EPOCHS:
            rows.append((epoch, total / n_batches,
                         smoothed_ce(model, xva, yva_m).item(),
                         error_pct(model, xva, yva_m)))
    return rows, len(leaves), zero


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    X, y = make_brake_tests(4800, rng)
    folds = np.array_split(rng.permutation(len(X)), N_FOLDS)
    counts = np.bincount(y, minlength=4)
    print(f"brake tests: {len(X)}  classes: " +
          ", ".join(f"{c}={n}" for c, n in zip(CLASSES, counts)))
    print(f"majority-class error: {100 * (1 - counts.max() / len(y)):.1f}%")

    final_err = []
    for k in range(N_FOLDS):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(N_FOLDS) if j != k])
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
        Xtr, Xva = (X[tr] - mu) / sd, (X[va] - mu) / sd
        rows, n_leaves, zero = run_fold(k, Xtr, y[tr], Xva, y[va], seed=100 + k)
        print()
        print(f"fold {k + 1}/{N_FOLDS}  train={len(tr)} valid={len(va)}  "
              f"grad leaves={n_leaves} all-zero={zero}")
        print(f"  {'epoch':>5}  {'train_ls_ce':>11}  {'valid_ls_ce':>11}  {'valid_err%':>10}")
        for ep, tr_l, va_l, err in rows:
            tr_s = "-" if ep == 0 else f"{tr_l:.4f}"
            print(f"  {ep:>5}  {tr_s:>11}  {va_l:>11.4f}  {err:>10.2f}")
        final_err.append(rows[-1][3])

    e = np.array(final_err)
    print()
    print("valid error per fold (%): " + "  ".join(f"{v:.2f}" for v in e))
    print(f"cross-validated error: {e.mean():.2f}% +- {e.std(ddof=1):.2f}  "
          f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
