"""Ikebana exhibition catalogue: which school made an arrangement?

Classes (imbalanced): Ikenobo 45%, Sogetsu 30%, Ohara 15%, Kofu 10%.
8 synthetic measurements per arrangement.  Class-weighted cross entropy
(inverse frequency, normalised by the summed weight of the batch), 3-fold
cross-validation, early stopping with restore of the best weights per fold,
compiled SGD-Nesterov step.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s ikebana: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger()

rng = np.random.default_rng(7301)
SCHOOLS = ["ikenobo", "sogetsu", "ohara", "kofu"]
PRIOR = np.array([0.45, 0.30, 0.15, 0.10])
N = 3000


def make():
    y = rng.choice(4, size=N, p=PRIOR)
    # per-school centres of: stem angle, height ratio, stems, asymmetry,
    # vessel depth, negative space, colours, line curvature
    centres = np.array([
        [10, 1.8, 3, 0.6, 0.3, 0.5, 2, 0.2],
        [45, 1.2, 6, 0.4, 0.5, 0.3, 4, 0.6],
        [30, 0.9, 8, 0.2, 0.15, 0.2, 5, 0.4],
        [60, 1.5, 4, 0.8, 0.6, 0.7, 3, 0.8],
    ], np.float32)
    spread = 1.6 * np.array([14, 0.35, 1.8, 0.2, 0.15, 0.18, 1.2, 0.22], np.float32)
    X = centres[y] + rng.normal(0, 1, (N, 8)).astype(np.float32) * spread
    X[:, 2] = np.round(np.clip(X[:, 2], 1, None))
    X[:, 6] = np.round(np.clip(X[:, 6], 1, None))
    return X.astype(np.float32), y.astype(np.int32)


X, Y = make()
folds = np.array_split(rng.permutation(N), 3)


class SchoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.norm = nn.LayerNorm(48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.l1(x)))
        h = nn.gelu(self.l2(h)) + h
        return self.head(h)


def weighted_ce(logits, y, cw):
    w = cw[y]
    per = nn.losses.cross_entropy(logits, y, reduction="none")
    return (w * per).sum() / w.sum()


def macro_f1(pred, y):
    f1s = []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100.0 * float(np.mean(f1s))


summary = []
for k in range(3):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0) + 1e-6
    xtr, ytr = mx.array((X[tr_idx] - mu) / sd), mx.array(Y[tr_idx])
    xva, yva = mx.array((X[va_idx] - mu) / sd), mx.array(Y[va_idx])
    counts = np.bincount(Y[tr_idx], minlength=4).astype(np.float32)
    cw = mx.array(counts.sum() / (4 * counts))

    mx.random.seed(100 + k)
    model = SchoolNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def loss_fn(xb, yb):
        return weighted_ce(model(xb), yb, cw)

    state = [model.state, opt.state]

    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, grads)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)

    if k == 0:
        _, g = nn.value_and_grad(model, loss_fn)(xtr[:128], ytr[:128])
        gn = {n: round(float(mx.sqrt((v * v).sum())), 4) for n, v in tree_flatten(g)}
        log.info("grad-norm audit fold 1: min %.4f over %d tensors (%s)", min(gn.values()), len(gn),
                 ", ".join(f"{n}={v}" for n, v in list(gn.items())[:3]))

    best = (math.inf, None, -1)
    patience, bad = 8, 0
    n_tr = len(tr_idx)
    for epoch in range(1, 61):
        if epoch in (25, 45):
            opt.learning_rate = opt.learning_rate * 0.3
        perm = mx.array(rng.permutation(n_tr))
        tot, nb = 0.0, 0
        for i in range(0, n_tr, 128):
            bi = perm[i:i + 128]
            loss = step(xtr[bi], ytr[bi])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        logits = model(xva)
        va_loss = weighted_ce(logits, yva, cw).item()
        f1 = macro_f1(np.array(mx.argmax(logits, axis=1)), Y[va_idx])
        bar = "#" * int(20 * epoch / 60)
        log.info("fold %d/3 ep %02d [%-20s] wCE %.4f | val wCE %.4f | macroF1 %.1f%% | lr %.4f",
                 k + 1, epoch, bar, tot / nb, va_loss, f1, float(opt.learning_rate))
        if va_loss < best[0] - 1e-4:
            best = (va_loss, tree_map(lambda a: mx.array(a), model.parameters()), epoch)
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                log.info("fold %d: early stop at epoch %d (best epoch %d)", k + 1, epoch, best[2])
                break
    model.update(best[1])
    mx.eval(model.parameters())
    logits = model(xva)
    va_loss = weighted_ce(logits, yva, cw).item()
    pred = np.array(mx.argmax(logits, axis=1))
    f1 = macro_f1(pred, Y[va_idx])
    acc = 100.0 * float(np.mean(pred == Y[va_idx]))
    maj = 100.0 * float(np.mean(Y[va_idx] == 0))
    log.info("fold %d restored epoch %d: val wCE %.4f (best %.4f, diff %.1e)", k + 1, best[2], va_loss,
             best[0], abs(va_loss - best[0]))
    summary.append((k + 1, best[2], va_loss, f1, acc, maj))

print("fold | best_ep | val_wCE | macroF1% | acc% | majority%")
for row in summary:
    print("%4d | %7d | %7.4f | %8.1f | %4.1f | %9.1f" % row)
arr = np.array([r[2:] for r in summary])
print("mean |    -    | %7.4f | %8.1f | %4.1f | %9.1f" % tuple(arr.mean(0)))
