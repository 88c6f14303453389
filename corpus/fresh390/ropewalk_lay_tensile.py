"""Ropewalk quality model: breaking load of three-strand fibre rope.

Small workshop data set (a few hundred test pulls), so the network is kept
honest with dropout, a plateau learning-rate cut and early stopping that
keeps the best checkpoint on disk and reloads it at the end.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
FEATS = ["diam_mm", "twist_deg", "yarns_per_strand", "moisture_pct",
         "lay_len_mm", "tarred", "fibre_grade", "age_months"]


def make_pulls(n):
    d = rng.uniform(8, 32, n)
    tw = rng.uniform(20, 50, n)
    ys = rng.integers(6, 40, n).astype(np.float64)
    mo = rng.uniform(6, 22, n)
    lay = d * rng.uniform(2.8, 4.2, n)
    tar = rng.integers(0, 2, n).astype(np.float64)
    gr = rng.integers(1, 4, n).astype(np.float64)
    age = rng.uniform(0, 60, n)
    # made-up ropewalk law (kN): area x yarn efficiency x twist penalty
    eff = 1.0 - 0.00045 * (tw - 34.0) ** 2
    kn = (0.011 * d ** 2 * (0.55 + 0.012 * ys) * eff * (1 + 0.08 * gr)
          * np.exp(-0.012 * np.abs(mo - 12)) * (1 - 0.06 * tar)
          * (1 - 0.004 * age) * (1 + 0.02 * np.sin(lay / d)))
    kn = kn * np.exp(rng.normal(0, 0.09, n))
    X = np.stack([d, tw, ys, mo, lay, tar, gr, age], 1)
    return X.astype(np.float32), np.log(kn).astype(np.float32)


Xtr, ytr = make_pulls(360)
Xva, yva = make_pulls(1200)
Xte, yte = make_pulls(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys_ = ytr.mean(), ytr.std()
norm = lambda X: (X - mu) / sd
Xtr_n, Xva_n, Xte_n = map(lambda a: mx.array(norm(a)), (Xtr, Xva, Xte))
ytr_z = mx.array((ytr - ym) / ys_)
yva_z = mx.array((yva - ym) / ys_)


class RopeNet(nn.Module):
    def __init__(self, d_in, width=128, p=0.15):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        h = self.drop(nn.relu(self.l1(x)))
        h = self.drop(nn.relu(self.l2(h)))
        h = self.drop(nn.relu(self.l3(h)))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = RopeNet(len(FEATS))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9, weight_decay=1e-5)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


value_and_grad = nn.value_and_grad(model, loss_fn)


def val_mse():
    model.eval()
    v = loss_fn(model, Xva_n, yva_z).item()
    model.train()
    return v


def kn_metrics(Xn, ylog):
    model.eval()
    pred = model(Xn) * ys_ + ym
    model.train()
    p = np.exp(np.array(pred))
    t = np.exp(ylog)
    mape = float(np.mean(np.abs(p - t) / t) * 100)
    within = float(np.mean(np.abs(p - t) / t < 0.10) * 100)
    return mape, within


# first batch: every gradient leaf must be non-zero
_, g0 = value_and_grad(model, Xtr_n[:32], ytr_z[:32])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"grad check: {len(leaves)} leaves, zero leaves: {zero if zero else 'none'}")

# linear least-squares baseline on the log scale, for scale
A = np.c_[norm(Xtr), np.ones(len(Xtr))]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
base_pred = np.exp(np.c_[norm(Xte), np.ones(len(Xte))] @ coef)
base_mape = float(np.mean(np.abs(base_pred - np.exp(yte)) / np.exp(yte)) * 100)
print(f"pulls: train {len(Xtr)}  valid {len(Xva)}  test {len(Xte)}  "
      f"| linear-log baseline test MAPE {base_mape:.2f}%")

ckdir = tempfile.mkdtemp(prefix="ropewalk")
best_path = os.path.join(ckdir, "best_rope.npz")
PATIENCE, CUT_AFTER, MIN_DELTA = 8, 3, 5e-4
best, best_epoch, wait, since_cut = float("inf"), 0, 0, 0
BS, MAX_EPOCHS = 24, 120
t0 = time.time()
print(f"untrained: valid mse(z) {val_mse():.4f}")
model.train()
for epoch in range(1, MAX_EPOCHS + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    tot, nb = 0.0, 0
    for i in range(0, len(Xtr), BS):
        idx = perm[i:i + BS]
        loss, g = value_and_grad(model, Xtr_n[idx], ytr_z[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    v = val_mse()
    lr = float(opt.learning_rate)
    line = (f"epoch {epoch:3d}  lr {lr:.4f}  train mse(z) {tot / nb:.4f}  "
            f"valid mse(z) {v:.4f}")
    if v < best - MIN_DELTA:
        best, best_epoch, wait, since_cut = v, epoch, 0, 0
        mx.savez(best_path, **dict(tree_flatten(model.parameters())))
        print(line + "  saved best_rope.npz")
    else:
        wait += 1
        since_cut += 1
        msg = f"  no improvement over {best:.4f} ({wait}/{PATIENCE})"
        if since_cut >= CUT_AFTER and lr > 0.002:
            opt.learning_rate = lr * 0.5
            since_cut = 0
            msg += f"  lr -> {lr * 0.5:.4f}"
        print(line + msg)
        if wait >= PATIENCE:
            print(f"stopping at epoch {epoch}: valid mse has not beaten "
                  f"{best:.4f} (epoch {best_epoch}) for {PATIENCE} epochs")
            break

last_val = val_mse()
last_mape, last_within = kn_metrics(Xte_n, yte)
model.load_weights(best_path)
mx.eval(model.parameters())
restored = val_mse()
mape, within = kn_metrics(Xte_n, yte)
print(f"reloaded epoch {best_epoch}: valid mse(z) {restored:.4f} "
      f"(saved {best:.4f}, last epoch {last_val:.4f})")
print(f"test  last-epoch weights: MAPE {last_mape:.2f}%  within 10% {last_within:.1f}%")
print(f"test  reloaded weights:   MAPE {mape:.2f}%  within 10% {within:.1f}%  "
      f"(linear baseline {base_mape:.2f}%)")
print(f"done in {time.time() - t0:.1f}s")
