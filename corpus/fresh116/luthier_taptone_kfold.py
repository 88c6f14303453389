"""Violin top-plate tap tone (mode-5 frequency) from plate measurements.

5-fold cross-validation, each fold trained from scratch with AdamW under a
warm-up that starts at lr 0, early stopping on the fold's held-out part with
the best weights restored. Quiet while a fold trains; one line per fold and a
summary table at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["thick_mm", "density", "E_long_GPa", "E_cross_GPa", "arch_mm", "length_mm", "grad_mm"]


def make_plates(n, rng):
    t = rng.uniform(2.4, 3.4, n)            # mean graduation thickness
    rho = rng.uniform(0.36, 0.48, n)         # g/cm^3
    el = rng.uniform(10.0, 16.0, n)          # GPa along grain
    er = el * rng.uniform(0.06, 0.11, n)     # across grain
    arch = rng.uniform(14.0, 18.5, n)
    L = rng.uniform(352.0, 358.0, n)
    grad = rng.uniform(0.0, 0.8, n)          # centre minus edge thickness
    stiff = np.sqrt(np.sqrt(el * er) / rho)
    f = 355.0 * (t / 2.9) * stiff / np.sqrt(np.sqrt(13.0 * 1.1) / 0.42) * (355.0 / L) ** 2
    f *= 1.0 + 0.018 * (arch - 16.0) - 0.05 * grad ** 2
    f *= np.exp(rng.normal(0.0, 0.012, n))   # ~20 cents of maker noise
    X = np.stack([t, rho, el, er, arch, L, grad], 1).astype(np.float32)
    return X, np.log(f).astype(np.float32)


class TapNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def cents(pred_log, true_log):
    return 1200.0 * np.abs(pred_log - true_log) / math.log(2.0)


def train_fold(k, Xtr, ytr, Xva, yva, epochs=60, batch=64, patience=8):
    mx.random.seed(100 + k)
    model = TapNet(Xtr.shape[1])
    steps_per_epoch = int(math.ceil(len(Xtr) / batch))
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, (epochs - 2) * steps_per_epoch, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, mse)

    # first-batch gradient check
    _, g0 = vg(model, mx.array(Xtr[:batch]), mx.array(ytr[:batch]))
    dead = [p for p, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    assert not dead, dead

    xv, yv = mx.array(Xva), mx.array(yva)
    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    rng = np.random.default_rng(k)
    for ep in range(epochs):
        order = rng.permutation(len(Xtr))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            loss, g = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
        v = mse(model, xv, yv).item()
        if v < best - 1e-7:
            best, best_ep, wait = v, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
            if wait >= patience:
                break
    model.update(best_w)
    return model, best, best_ep, ep + 1


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    X, y = make_plates(3000, rng)
    Xte, yte = make_plates(600, rng)
    folds = np.array_split(rng.permutation(len(X)), 5)
    rows, preds = [], []
    print(f"plates: {len(X)} train+val, {len(Xte)} test, features {FEATURES}")
    for k in range(5):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(5) if j != k])
        mu, sd = X[tr].mean(0), X[tr].std(0)
        ym, ys = y[tr].mean(), y[tr].std()
        norm = lambda A: (A - mu) / sd
        model, best, best_ep, ran = train_fold(
            k, norm(X[tr]), (y[tr] - ym) / ys, norm(X[va]), (y[va] - ym) / ys)
        pv = np.array(model(mx.array(norm(X[va])))) * ys + ym
        pt = np.array(model(mx.array(norm(Xte)))) * ys + ym
        preds.append(pt)
        c = cents(pv, y[va])
        rows.append((k + 1, ran, best_ep + 1, best, c.mean(), 100.0 * (c <= 25).mean()))
        print(f"fold {k + 1}/5 finished after {ran} epochs (best epoch {best_ep + 1}), "
              f"held-out mean error {c.mean():.1f} cents  [{time.time() - t0:.1f}s]")
    print()
    print(f"{'fold':>4} {'epochs':>6} {'best':>5} {'val_mse(z)':>10} {'cents_err':>9} {'within25c':>9}")
    for r in rows:
        print(f"{r[0]:>4} {r[1]:>6} {r[2]:>5} {r[3]:>10.4f} {r[4]:>9.1f} {r[5]:>8.1f}%")
    ens = np.mean(preds, 0)
    c = cents(ens, yte)
    base = cents(np.full_like(yte, y.mean()), yte)
    print(f"test, 5-fold ensemble: mean error {c.mean():.1f} cents (predict-the-mean: {base.mean():.1f}), "
          f"{100.0 * (c <= 25).mean():.1f}% of plates within 25 cents")


if __name__ == "__main__":
    main()
