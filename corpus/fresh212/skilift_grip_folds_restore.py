"""Detachable ski-lift grips: classify a grip test as hold / creep / slip.

Synthetic grip-test bench records. The first layer is a frozen random-cosine feature map
(kept fixed on purpose); the rest trains with Nesterov SGD. 3-fold cross-validation, each fold
with early stopping that restores the best epoch. Output goes through `logging`.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s grip-bench | %(message)s")
log = logging.getLogger("grip")

rng = np.random.default_rng(2121)
N = 1200
speed = rng.uniform(2.0, 6.0, N)          # rope speed, m/s
spring = rng.uniform(3.0, 6.5, N)         # grip spring force, kN
temp = rng.uniform(-25.0, 5.0, N)         # air temperature, C
load = rng.uniform(0.0, 420.0, N)         # chair load, kg
icing = rng.beta(1.5, 4.0, N)             # icing index 0..1
wear = rng.uniform(0.0, 3.0, N)           # rope diameter loss, mm
score = (-1.6 * spring + 0.006 * load + 2.2 * icing + 0.35 * speed + 0.9 * wear
         + 0.8 * np.tanh((temp + 15.0) / 6.0) * icing)
score = score + rng.logistic(0.0, 0.35, N)
q60, q85 = np.quantile(score, [0.60, 0.85])
y_all = np.where(score < q60, 0, np.where(score < q85, 1, 2)).astype(np.int32)
X_all = np.stack([speed, spring, temp, load, icing, wear], 1).astype(np.float32)
CLASSES = ["hold", "creep", "slip"]


class GripNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(6, 96)            # frozen random features
        self.mix = nn.Linear(96 + 6, 48)
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        f = mx.cos(self.rff(x)) * math.sqrt(2.0 / 96)
        h = nn.gelu(self.mix(mx.concatenate([f, x], axis=-1)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, axis=-1) == y).astype(mx.float32).mean().item()
    return nll, acc


folds = np.array_split(rng.permutation(N), 3)
results = []
for k in range(3):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0)
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = mx.array(y_all[va_idx])
    majority = float(np.bincount(y_all[va_idx], minlength=3).max() / len(va_idx))

    mx.random.seed(100 + k)
    model = GripNet()
    model.rff.freeze()
    mx.eval(model.parameters())
    frozen_before = mx.array(model.rff.weight)

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    _, g = nn.value_and_grad(model, loss_fn)(model, Xtr, ytr)
    dead = [name for name, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
    log.info("fold %d/3 start: train %d val %d, trainable %d params, zero-grad tensors %s, "
             "majority-class acc %.1f%%", k + 1, len(tr_idx), len(va_idx), n_train, dead or "none",
             100 * majority)

    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    best = (float("inf"), 0, None)
    patience, bad = 12, 0
    for epoch in range(1, 151):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot, nb = 0.0, 0
        for i in range(0, len(tr_idx), 50):
            idx = perm[i:i + 50]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        va_nll, va_acc = evaluate(model, Xva, yva)
        if va_nll < best[0] - 1e-4:
            best = (va_nll, epoch, dict(tree_flatten(model.trainable_parameters())))
            bad = 0
        else:
            bad += 1
        if epoch == 1 or epoch % 5 == 0:
            log.info("fold %d epoch %3d | train_nll %.4f | val_nll %.4f | val_acc %5.1f%% | best@%d",
                     k + 1, epoch, tot / nb, va_nll, 100 * va_acc, best[1])
        if bad >= patience:
            log.info("fold %d: no val_nll gain for %d epochs, stopping at epoch %d", k + 1, patience, epoch)
            break

    model.update(tree_unflatten(list(best[2].items())))
    mx.eval(model.parameters())
    r_nll, r_acc = evaluate(model, Xva, yva)
    drift = mx.abs(model.rff.weight - frozen_before).max().item()
    log.info("fold %d restored epoch %d: val_nll %.4f val_acc %.1f%% (majority %.1f%%), "
             "frozen rff max drift %.1e", k + 1, best[1], r_nll, 100 * r_acc, 100 * majority, drift)
    results.append((r_nll, r_acc, majority))

accs = np.array([r[1] for r in results])
nlls = np.array([r[0] for r in results])
log.info("summary over 3 folds: val_acc %.1f%% +- %.1f | val_nll %.4f | majority %.1f%% | chance nll %.4f",
         100 * accs.mean(), 100 * accs.std(), nlls.mean(), 100 * np.mean([r[2] for r in results]),
         math.log(3))
