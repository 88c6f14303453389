"""Tea-factory leaf grading: 4 grades from withering/rolling line readings.

Grades: 0 orange pekoe, 1 pekoe, 2 souchong, 3 fannings.
4-fold cross-validation; each fold trains a fresh MLP with Nesterov SGD,
early-stops on fold accuracy (patience 4) and rolls back to the best epoch.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(
    stream=sys.stdout,
    level=logging.INFO,
    format="%(asctime)s.%(msecs)03d %(levelname)-5s [%(name)s] %(message)s",
    datefmt="%H:%M:%S",
)
log = logging.getLogger("leafgrade")

FOLDS = 4
MAX_EPOCHS = 30
PATIENCE = 4
BATCH = 64
FEATURES = ["leaf_len_mm", "width_ratio", "moisture_pct", "wither_h", "oxid_pct",
            "tip_count", "colour_L", "colour_a", "colour_b"]

rng = np.random.default_rng(20147)


def make_leaves(n):
    grade = rng.choice(4, size=n, p=[0.22, 0.31, 0.27, 0.20])
    leaf_len = np.array([28.0, 22.0, 16.0, 6.0])[grade] + rng.normal(0, 4.0, n)
    width = np.array([0.30, 0.36, 0.45, 0.55])[grade] + rng.normal(0, 0.07, n)
    moist = rng.normal(62.0, 6.0, n) - 2.0 * grade
    wither = rng.uniform(10.0, 20.0, n)
    oxid = 55.0 + 1.5 * wither + 4.0 * grade + rng.normal(0, 7.0, n)
    tips = rng.poisson(np.array([6.0, 3.5, 1.2, 0.4])[grade])
    col_L = 38.0 - 0.12 * oxid + rng.normal(0, 2.5, n)
    col_a = 2.0 + 0.05 * oxid + 0.6 * grade + rng.normal(0, 1.2, n)
    col_b = 14.0 - 0.8 * grade + rng.normal(0, 2.0, n)
    X = np.stack([leaf_len, width, moist, wither, oxid, tips, col_L, col_a, col_b], 1)
    return X.astype(np.float32), grade.astype(np.int32)


X_all, y_all = make_leaves(4800)
fold_of = rng.permutation(len(y_all)) % FOLDS


class GradeNet(nn.Module):
    def __init__(self, d_in, hidden, n_cls):
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_cls)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        h = nn.gelu(self.l1(self.norm(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.head(h)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    model.eval()
    pred = mx.argmax(model(x), axis=1)
    acc = mx.mean(pred == y)
    mx.eval(acc)
    model.train()
    return acc.item()


def bar(done, total, width=20):
    k = int(width * done / total)
    return "|" + "#" * k + "." * (width - k) + "|"


t0 = time.time()
fold_scores = []
for fold in range(FOLDS):
    tr = fold_of != fold
    va = fold_of == fold
    mu, sd = X_all[tr].mean(0), X_all[tr].std(0) + 1e-6
    xtr = mx.array((X_all[tr] - mu) / sd)
    ytr = mx.array(y_all[tr])
    xva = mx.array((X_all[va] - mu) / sd)
    yva = mx.array(y_all[va])
    majority = np.bincount(y_all[tr], minlength=4).argmax()
    base_acc = float(np.mean(y_all[va] == majority))

    mx.random.seed(100 + fold)
    net = GradeNet(len(FEATURES), 64, 4)
    mx.eval(net.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    step_fn = nn.value_and_grad(net, ce)

    best_acc, best_epoch, best_params, waited = -1.0, -1, None, 0
    n_tr = xtr.shape[0]
    for epoch in range(1, MAX_EPOCHS + 1):
        order = mx.array(rng.permutation(n_tr))
        run_loss, nb = 0.0, 0
        for s in range(0, n_tr, BATCH):
            idx = order[s:s + BATCH]
            loss, grads = step_fn(net, xtr[idx], ytr[idx])
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state, loss)
            run_loss += loss.item()
            nb += 1
        acc = accuracy(net, xva, yva)
        improved = acc > best_acc
        if improved:
            best_acc, best_epoch, waited = acc, epoch, 0
            best_params = [(k, mx.array(v)) for k, v in tree_flatten(net.parameters())]
        else:
            waited += 1
        log.info(
            "fold %d/%d %s ep %2d/%d  xent %.4f  acc %5.1f%%  (majority %4.1f%%)%s",
            fold + 1, FOLDS, bar(epoch, MAX_EPOCHS), epoch, MAX_EPOCHS,
            run_loss / nb, 100 * acc, 100 * base_acc, "  *" if improved else "",
        )
        if waited >= PATIENCE:
            log.warning("fold %d: no gain for %d epochs, stopping at ep %d", fold + 1, PATIENCE, epoch)
            break

    net.update(tree_unflatten(best_params))
    mx.eval(net.parameters())
    restored = accuracy(net, xva, yva)
    log.info("fold %d: restored ep %d weights -> acc %.1f%% (kept %.1f%%, diff %+.2f pt)",
             fold + 1, best_epoch, 100 * restored, 100 * best_acc, 100 * (restored - best_acc))
    fold_scores.append(restored)

scores = np.array(fold_scores)
log.info("CV accuracy %.1f%% +/- %.1f  folds=%s  elapsed %.1fs",
         100 * scores.mean(), 100 * scores.std(),
         " ".join(f"{100 * s:.1f}" for s in scores), time.time() - t0)
