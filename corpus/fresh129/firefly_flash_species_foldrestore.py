"""Firefly flash-pattern species classifier.

Five-fold cross-validation over synthetic flash-train recordings; every fold
trains a fresh MLP with Adamax, a linear warmup that starts at lr = 0, and
early stopping that restores the best validation checkpoint.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2026)
SPECIES = ["P.pyralis", "P.carolinus", "P.versicolor", "P.consanguineus", "P.greeni"]
N = 900
FEATURES = ["flash_ms", "interval_s", "pulses", "air_C", "peak_nm", "height_m", "time_after_dusk_min"]


def make_recordings(n):
    species = rng.choice(5, size=n, p=[0.34, 0.22, 0.18, 0.16, 0.10])
    air = rng.uniform(14, 28, n)
    # species "signatures" (made up), temperature shortens intervals
    base_flash = np.array([420, 110, 250, 160, 90])[species]
    base_int = np.array([5.8, 0.55, 2.4, 1.3, 3.1])[species]
    pulses = np.array([1, 6, 1, 2, 3])[species] + rng.poisson(0.4, n)
    peak = np.array([562, 555, 570, 566, 558])[species] + rng.normal(0, 4, n)
    height = np.array([0.8, 2.5, 1.5, 0.5, 3.0])[species] * rng.lognormal(0, 0.45, n)
    dusk = np.array([10, 45, 25, 30, 60])[species] + rng.normal(0, 14, n)
    tempfac = np.exp(-0.045 * (air - 21))
    flash = base_flash * tempfac * rng.lognormal(0, 0.22, n)
    interval = base_int * tempfac * rng.lognormal(0, 0.25, n)
    X = np.stack([np.log(flash), np.log(interval), pulses, air, peak, np.log1p(height), dusk], 1)
    return X.astype(np.float32), species.astype(np.int32)


X_all, y_all = make_recordings(N)
folds = np.array_split(rng.permutation(N), 5)


class FlashNet(nn.Module):
    def __init__(self, d_in, hidden=64, classes=5):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(pred, y, k=5):
    f = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


EPOCHS, BATCH, PATIENCE, WARM = 60, 32, 8, 40
summary = []
for k, val_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0) + 1e-6
    Xtr = mx.array((X_all[tr_idx] - mu) / sd); ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[val_idx] - mu) / sd); yva = y_all[val_idx]
    majority = np.bincount(y_all[tr_idx], minlength=5).argmax()
    base_acc = 100.0 * np.mean(yva == majority)

    mx.random.seed(100 + k)
    model = FlashNet(len(FEATURES))
    steps_per_epoch = len(tr_idx) // BATCH
    total = EPOCHS * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, WARM), optim.cosine_decay(4e-3, total - WARM, 2e-4)], [WARM]
    )
    opt = optim.Adamax(learning_rate=sched)
    lg = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g0 = lg(model, Xtr[:BATCH], ytr[:BATCH])
        flat = tree_flatten(g0)
        nz = sum(1 for _, g in flat if mx.abs(g).max().item() > 0)
        print(f"grad audit: {nz}/{len(flat)} parameter tensors receive nonzero gradient")

    print(f"\nfold {k + 1}/5  train={len(tr_idx)}  val={len(val_idx)}  majority-baseline acc={base_acc:.1f}%")
    print("| epoch | lr       | train xent | val xent | val acc % | macroF1 |")
    best, best_ep, best_params, wait = math.inf, -1, None, 0
    for ep in range(1, EPOCHS + 1):
        model.train()
        perm = mx.array(rng.permutation(len(tr_idx)))
        run = 0.0
        for s in range(steps_per_epoch):
            ids = perm[s * BATCH:(s + 1) * BATCH]
            loss, grads = lg(model, Xtr[ids], ytr[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        model.eval()
        logits = model(Xva)
        vloss = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
        pred = np.array(mx.argmax(logits, axis=1))
        acc = 100.0 * np.mean(pred == yva)
        f1 = macro_f1(pred, yva)
        if vloss < best - 1e-4:
            best, best_ep, wait = vloss, ep, 0
            best_params = dict(tree_flatten(model.parameters()))
        else:
            wait += 1
        if ep == 1 or ep % 5 == 0 or wait == 0:
            lr_now = opt.learning_rate.item()
            print(f"| {ep:5d} | {lr_now:.2e} | {run / steps_per_epoch:10.4f} | {vloss:8.4f} | {acc:9.1f} | {f1:7.3f} |")
        if wait >= PATIENCE:
            print(f"early stop at epoch {ep}: no val improvement for {PATIENCE} epochs")
            break
    model.load_weights(list(best_params.items()))
    model.eval()
    logits = model(Xva)
    pred = np.array(mx.argmax(logits, axis=1))
    acc = 100.0 * np.mean(pred == yva)
    summary.append((best, acc, macro_f1(pred, yva), base_acc))
    print(f"restored epoch {best_ep}: val xent {best:.4f}  acc {acc:.1f}% (baseline {base_acc:.1f}%)")

print("\nfold | val xent | acc %  | macroF1 | baseline %")
for i, (v, a, f, b) in enumerate(summary):
    print(f"{i + 1:4d} | {v:8.4f} | {a:6.1f} | {f:7.3f} | {b:6.1f}")
arr = np.array(summary)
print(f"mean | {arr[:, 0].mean():8.4f} | {arr[:, 1].mean():6.1f} | {arr[:, 2].mean():7.3f} | {arr[:, 3].mean():6.1f}")
