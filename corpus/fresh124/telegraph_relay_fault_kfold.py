"""Telegraph line maintenance: which fault is a relay station showing?

Each record is one test of a repeater station on an old single-wire telegraph
line (10 readings: line resistance, insulation leakage, earth-return drift,
armature release time, sounder click spacing, battery volts, humidity, ...).
Classes: 0 ok, 1 leaky insulator, 2 sticky armature, 3 weak battery,
4 bad earth.  5-fold cross-validation; inside each fold an MLP with dropout
is trained by Nesterov SGD with step decay, with early stopping on the
held-out fold and the best weights put back before scoring.
Reports go through `logging`.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s relaybench | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("relaybench")

rng = np.random.default_rng(7)
N, D, K = 2500, 10, 5
CLASS_P = [0.40, 0.18, 0.16, 0.14, 0.12]


def make_tests(n):
    y = rng.choice(K, size=n, p=CLASS_P)
    base = rng.normal(0, 1, size=(n, D))
    hum = rng.uniform(-1, 1, size=n)                 # humidity confounds leakage
    base[:, 6] = hum
    base[:, 1] += 0.8 * hum                          # leakage rises when it is damp anyway
    base[y == 1, 1] += 2.8                           # leaky insulator: leakage up ...
    base[y == 1, 0] -= 1.2                           # ... apparent line resistance down
    base[y == 2, 3] += 2.6                           # sticky armature: slow release
    base[y == 2, 4] += 1.5 * np.sign(base[y == 2, 3])  # irregular click spacing
    base[y == 3, 5] -= 2.7                           # weak battery: volts down
    base[y == 3, 3] += 0.9                           # and sluggish release
    base[y == 4, 2] += 2.4 * rng.choice([-1, 1], size=(y == 4).sum())  # earth drift either way
    base[y == 4, 0] += 1.0
    base += rng.normal(0, 0.45, size=base.shape)
    return base.astype(np.float32), y.astype(np.int32)


X, Y = make_tests(N)
folds = np.array_split(rng.permutation(N), 5)


class RelayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(64, K)

    def __call__(self, x):
        h = self.drop(nn.relu(self.l1(x)))
        h = self.drop(nn.relu(self.l2(h)))
        return self.out(h)


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def macro_f1(pred, true):
    f1s = []
    for c in range(K):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


MAX_EPOCHS, PATIENCE, BATCH = 60, 8, 64
fold_rows = []
t_all = time.time()
for f in range(5):
    va_idx = folds[f]
    tr_idx = np.concatenate([folds[j] for j in range(5) if j != f])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    Xtr, Ytr = mx.array((X[tr_idx] - mu) / sd), mx.array(Y[tr_idx])
    Xva, Yva = mx.array((X[va_idx] - mu) / sd), Y[va_idx]
    majority = np.bincount(Y[tr_idx], minlength=K).argmax()
    base_acc = 100.0 * np.mean(Yva == majority)

    mx.random.seed(100 + f)
    model = RelayNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    vg = nn.value_and_grad(model, ce)

    if f == 0:
        model.train()
        _, g = vg(model, Xtr[:BATCH], Ytr[:BATCH])
        norms = [float(mx.linalg.norm(v.reshape(-1))) for _, v in tree_flatten(g)]
        log.info("grad check: %d tensors, smallest norm %.2e, all nonzero=%s",
                 len(norms), min(norms), all(n > 0 for n in norms))

    best_val, best_epoch, best_params, bad = float("inf"), -1, None, 0
    log.info("fold %d/5 start: train=%d held-out=%d majority-class acc %.1f%%", f + 1, len(tr_idx), len(va_idx), base_acc)
    for epoch in range(1, MAX_EPOCHS + 1):
        if epoch in (25, 45):
            opt.learning_rate = opt.learning_rate * 0.3
        model.train()
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot, nb = 0.0, 0
        for s in range(0, len(tr_idx), BATCH):
            idx = perm[s:s + BATCH]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item(); nb += 1
        model.eval()
        logits = model(Xva)
        vloss = mx.mean(nn.losses.cross_entropy(logits, mx.array(Yva))).item()
        pred = np.array(mx.argmax(logits, axis=1))
        vacc = 100.0 * np.mean(pred == Yva)
        flag = ""
        if vloss < best_val - 1e-4:
            best_val, best_epoch, bad = vloss, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
            flag = " *"
        else:
            bad += 1
        if epoch % 5 == 0 or flag or bad >= PATIENCE:
            log.info("fold %d ep %02d  xent %.4f | held-out xent %.4f  acc %.1f%%  lr %.4f%s",
                     f + 1, epoch, tot / nb, vloss, vacc, float(opt.learning_rate.item()), flag)
        if bad >= PATIENCE:
            log.warning("fold %d: no held-out improvement for %d epochs, stopping at epoch %d", f + 1, PATIENCE, epoch)
            break
    model.update(best_params)
    model.eval()
    logits = model(Xva)
    pred = np.array(mx.argmax(logits, axis=1))
    acc = 100.0 * np.mean(pred == Yva)
    f1 = macro_f1(pred, Yva)
    log.info("fold %d restored epoch %d weights: held-out acc %.1f%% (majority %.1f%%), macro-F1 %.3f",
             f + 1, best_epoch, acc, base_acc, f1)
    fold_rows.append((f + 1, best_epoch, best_val, acc, base_acc, f1))

log.info("fold | best_ep | xent   | acc%  | base% | macroF1")
for r in fold_rows:
    log.info("%4d | %7d | %.4f | %5.1f | %5.1f | %.3f", *r)
accs = np.array([r[3] for r in fold_rows])
log.info("cross-validated accuracy %.1f%% +/- %.1f (majority baseline %.1f%%), %.1fs",
         accs.mean(), accs.std(), np.mean([r[4] for r in fold_rows]), time.time() - t_all)
