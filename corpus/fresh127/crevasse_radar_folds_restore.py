"""Glacier route-finding: crevasse hazard class from ground-penetrating radar.

Each sled-towed GPR trace is summarised into 16 depth-bin return strengths.
Classes: 0 solid ice, 1 snow-bridged crevasse, 2 open/void crevasse.
4-fold cross-validation; each fold trains with Nesterov SGD inside a compiled
step, early-stops on validation balanced accuracy and restores its best weights.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [gpr] %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("gpr")

rng = np.random.default_rng(2024)
N, D, K = 2400, 16, 3
depth = np.linspace(0, 1, D)
cls = rng.choice(K, size=N, p=[0.55, 0.3, 0.15])
bridge = rng.uniform(0.15, 0.6, N)          # depth of the void top
firn = rng.normal(0, 1, N)                  # firn density anomaly
base = np.exp(-2.5 * depth)[None, :] * (1 + 0.2 * firn[:, None])
void_echo = np.exp(-((depth[None, :] - bridge[:, None]) ** 2) / 0.004)
X = base + 0.25 * rng.normal(0, 1, (N, D))
X += (cls == 1)[:, None] * 0.55 * void_echo            # weak reflection under a snow bridge
X += (cls == 2)[:, None] * (1.1 * void_echo - 0.5 * (depth[None, :] > bridge[:, None]))  # strong echo + shadow
X = X.astype(np.float32)
Y = cls.astype(np.int32)


class Picker(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, K)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def balanced_acc_and_miss(model, x, y):
    pred = np.array(mx.argmax(model(x), axis=1))
    yy = np.array(y)
    recalls = [float((pred[yy == c] == c).mean()) for c in range(K)]
    # "miss" = a crevasse (1 or 2) called solid ice
    crev = yy > 0
    miss = float((pred[crev] == 0).mean())
    return 100 * float(np.mean(recalls)), 100 * miss


folds = np.array_split(rng.permutation(N), 4)
summary = []
t0 = time.perf_counter()
for f, val_idx in enumerate(folds):
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != f])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0) + 1e-6
    xtr, ytr = mx.array((X[tr_idx] - mu) / sd), mx.array(Y[tr_idx])
    xva, yva = mx.array((X[val_idx] - mu) / sd), mx.array(Y[val_idx])

    mx.random.seed(10 + f)
    model = Picker()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, ce)(model, x, y)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, patience, bad = -1.0, -1, None, 6, 0
    ntr = len(tr_idx)
    for epoch in range(60):
        order = mx.array(rng.permutation(ntr))
        losses = []
        for i in range(0, ntr, 64):
            b = order[i:i + 64]
            loss = step(xtr[b], ytr[b])
            mx.eval(state, loss)
            losses.append(loss.item())
        bacc, miss = balanced_acc_and_miss(model, xva, yva)
        vloss = ce(model, xva, yva).item()
        log.info("fold %d epoch %02d | train_ce %.4f | val_ce %.4f | bal_acc %.1f%% | crevasse_miss %.1f%%",
                 f + 1, epoch + 1, float(np.mean(losses)), vloss, bacc, miss)
        if bacc > best + 0.05:
            best, best_ep, bad = bacc, epoch + 1, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= patience:
                log.info("fold %d: no gain for %d epochs, stopping at epoch %d", f + 1, patience, epoch + 1)
                break
    model.update(best_w)
    bacc, miss = balanced_acc_and_miss(model, xva, yva)
    log.info("fold %d: restored epoch %d weights -> bal_acc %.1f%% crevasse_miss %.1f%%", f + 1, best_ep, bacc, miss)
    summary.append((f + 1, best_ep, bacc, miss))

majority = 100.0 / K  # balanced accuracy of always saying "solid ice"
print("\nfold | best_ep | bal_acc% | miss%")
for row in summary:
    print("%4d | %7d | %8.1f | %5.1f" % row)
b = np.array([r[2] for r in summary]); m = np.array([r[3] for r in summary])
print("mean | %7s | %5.1f+-%.1f | %5.1f   (majority-class bal_acc %.1f%%, %.1fs)"
      % ("-", b.mean(), b.std(), m.mean(), majority, time.perf_counter() - t0))
