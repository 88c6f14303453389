"""Bell foundry casting inspection: which of five outcomes a pour ends in.

Epoch-0 evaluation of the untrained net, validation every epoch, learning
rate cut by hand when validation stalls, stop after the third cut (or when
patience runs out), best weights kept in memory and restored for the test.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(7384)
mx.random.seed(7384)

CLASSES = ["sound", "cold_shut", "porosity", "crack", "misrun"]
K = len(CLASSES)


def pours(n):
    metal_t = rng.normal(1120, 35, n)        # bronze pour temperature C
    mould_t = rng.normal(180, 60, n)         # mould preheat C
    pour_s = rng.gamma(6, 2.5, n)            # pour duration s
    moist = rng.gamma(2, 1.2, n)             # loam moisture %
    tin = rng.normal(22, 1.5, n)             # tin %
    wall = rng.uniform(12, 90, n)            # thinnest wall mm
    cool_h = rng.gamma(4, 6, n)              # hours before knock-out
    vent = rng.integers(0, 2, n)             # extra risers
    z = np.stack([
        np.zeros(n),
        1.6 * (1090 - metal_t) / 35 + 0.03 * (pour_s - 15) - 0.004 * (mould_t - 180),
        0.9 * (moist - 2.4) - 0.8 * vent + 0.3 * (metal_t - 1120) / 35,
        0.45 * (tin - 22) + 1.2 * (18 - cool_h) / 12 + 0.3 * np.abs(wall - 50) / 30,
        1.4 * (25 - wall) / 10 + 1.0 * (1100 - metal_t) / 35 + 0.02 * (pour_s - 15),
    ], 1)
    z[:, 1:] -= 1.3
    y = np.argmax(z + rng.gumbel(size=z.shape), 1)
    X = np.stack([metal_t, mould_t, pour_s, moist, tin, wall, cool_h, vent], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = pours(6000)
Xva, yva = pours(1500)
Xte, yte = pours(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xva_m, Xte_m = (mx.array((X - mu) / sd) for X in (Xtr, Xva, Xte))
ytr_m = mx.array(ytr)


def macro_f1_balacc(pred, y):
    f1s, recs = [], []
    for k in range(K):
        tp = np.sum((pred == k) & (y == k))
        fp = np.sum((pred == k) & (y != k))
        fn = np.sum((pred != k) & (y == k))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        recs.append(rec)
    return 100 * float(np.mean(f1s)), 100 * float(np.mean(recs))


class PourNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 96), nn.Linear(96, 96), nn.Linear(96, K)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.silu(layer(x))
        return self.layers[-1](x)


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.1, reduction="mean")


def val_metrics(m, X, y):
    logits = m(X)
    nll = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean")
    pred = np.array(mx.argmax(logits, axis=1))
    f1, bacc = macro_f1_balacc(pred, y)
    return nll.item(), f1, bacc


model = PourNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9, weight_decay=5e-4)
step_fn = nn.value_and_grad(model, ce)

counts = np.bincount(ytr, minlength=K)
print("class shares (train): " + "  ".join("%s %.1f%%" % (c, 100 * n / len(ytr))
                                           for c, n in zip(CLASSES, counts)))
# baselines on the test pours
maj = np.full_like(yte, int(np.argmax(counts)))
cent = np.stack([((Xtr - mu) / sd)[ytr == k].mean(0) for k in range(K)])
dist = (((Xte - mu) / sd)[:, None, :] - cent[None]) ** 2
nc_pred = np.argmin(dist.sum(-1), 1)

hdr = "%5s | %9s | %8s | %8s | %8s | %8s | %-14s | %5s" % (
    "epoch", "lr", "train_ls", "val_nll", "macroF1", "bal_acc", "note", "sec")
print(hdr)
print("-" * len(hdr))
nll, f1, bacc = val_metrics(model, Xva_m, yva)
print("%5d | %9.5f | %8s | %8.4f | %7.2f%% | %7.2f%% | %-14s | %5.1f"
      % (0, opt.learning_rate.item(), "-", nll, f1, bacc, "untrained", 0.0))

PLATEAU, FACTOR, MAX_CUTS, PATIENCE, BATCH = 3, 0.3, 3, 8, 128
best_nll, best_epoch, best_params = nll, 0, tree_map(lambda p: mx.array(p), model.parameters())
since_best, since_cut, cuts = 0, 0, 0
t0 = time.time()
for epoch in range(1, 80):
    perm = rng.permutation(len(ytr))
    tot, nb = 0.0, 0
    for i in range(0, len(ytr), BATCH):
        idx = mx.array(perm[i:i + BATCH])
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    nll, f1, bacc = val_metrics(model, Xva_m, yva)
    note = ""
    if nll < best_nll - 1e-3:
        best_nll, best_epoch = nll, epoch
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        since_best, since_cut, note = 0, 0, "best"
    else:
        since_best += 1
        since_cut += 1
    lr_used = opt.learning_rate.item()
    if since_cut >= PLATEAU:
        cuts += 1
        since_cut = 0
        opt.learning_rate = lr_used * FACTOR
        note = (note + " lr cut %d/%d" % (cuts, MAX_CUTS)).strip()
    print("%5d | %9.5f | %8.4f | %8.4f | %7.2f%% | %7.2f%% | %-14s | %5.1f"
          % (epoch, lr_used, tot / nb, nll, f1, bacc, note, time.time() - t0))
    if cuts >= MAX_CUTS or since_best >= PATIENCE:
        why = "third lr cut" if cuts >= MAX_CUTS else "patience"
        print("stop after epoch %d (%s); best val nll %.4f at epoch %d"
              % (epoch, why, best_nll, best_epoch))
        break

last = np.array(mx.argmax(model(Xte_m), axis=1))
model.update(best_params)
mx.eval(model.parameters())
kept = np.array(mx.argmax(model(Xte_m), axis=1))
print("test pours (%d)           macroF1   bal_acc   accuracy" % len(yte))
for name, pred in [("majority class", maj), ("nearest centroid", nc_pred),
                   ("net, last epoch", last), ("net, restored best", kept)]:
    f1, bacc = macro_f1_balacc(pred, yte)
    print("  %-22s %7.2f%%  %7.2f%%  %7.2f%%" % (name, f1, bacc, 100 * np.mean(pred == yte)))
