"""Kabaddi raid analysis: predict the raid outcome (0 = empty raid, 1 = raider
tackled, 2 = point(s) scored) from raid tracking features.  5-fold cross-validation,
each fold a fresh MLP trained with SGD + Nesterov momentum, learning rate warming up
from exactly 0, early stopping on validation macro-F1 with the best weights restored."""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s raid-cv | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("raid")

rng = np.random.default_rng(20191)
N = 3000
# raid features: raider speed (m/s), defenders on mat, bonus-line reach (0/1), raid clock used (s),
# touch attempts, ankle-hold specialists in the defence, do-or-die raid flag
speed = rng.normal(5.0, 0.8, N)
defenders = rng.integers(1, 8, N).astype(np.float64)
bonus = rng.integers(0, 2, N).astype(np.float64)
clock = rng.uniform(5, 30, N)
touches = rng.poisson(1.3, N).astype(np.float64)
ankle = rng.integers(0, 3, N).astype(np.float64)
dod = (rng.uniform(size=N) < 0.15).astype(np.float64)
score_logit = 0.9 * (speed - 5) + 0.8 * touches - 0.25 * defenders + 0.5 * bonus + 0.6 * dod - 0.5
tackle_logit = 0.35 * defenders + 0.7 * ankle + 0.04 * clock + 0.8 * dod - 0.3 * (speed - 5) - 2.4
logits = np.stack([np.zeros(N), tackle_logit, score_logit], 1) + rng.gumbel(size=(N, 3))
y_np = logits.argmax(1)
X_np = np.stack([speed, defenders, bonus, clock, touches, ankle, dod], 1)
X_np = ((X_np - X_np.mean(0)) / X_np.std(0)).astype(np.float32)
log.info("class shares: empty %.1f%% tackled %.1f%% scored %.1f%%",
         *(100 * np.bincount(y_np, minlength=3) / N))


class RaidNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(pred, y):
    f = []
    for c in range(3):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


folds = np.array_split(rng.permutation(N), 5)
results = []
for k in range(5):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(5) if j != k])
    Xtr, ytr = mx.array(X_np[tr_idx]), mx.array(y_np[tr_idx])
    Xva, yva = mx.array(X_np[va_idx]), y_np[va_idx]
    majority = np.bincount(y_np[tr_idx]).argmax()
    base_f1 = macro_f1(np.full_like(yva, majority), yva)

    mx.random.seed(100 + k)
    model = RaidNet()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 0.08, 120)
    sched = optim.join_schedules([warm, optim.cosine_decay(0.08, 900, 0.004)], [120])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g = vg(model, Xtr[:200], ytr[:200])
        norms = {n: float(mx.linalg.norm(v)) for n, v in tree_flatten(g)}
        log.info("grad check fold 0: min |g| %.3e over %d tensors", min(norms.values()), len(norms))

    best, best_ep, best_w, bad = -1.0, -1, None, 0
    n_tr = Xtr.shape[0]
    for ep in range(40):
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        for b in range(0, n_tr, 64):
            ib = perm[b:b + 64]
            if b == 0:
                lr_now = opt.learning_rate.item()
            loss, g = vg(model, Xtr[ib], ytr[ib])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item() * ib.shape[0]
        pred = np.array(mx.argmax(model(Xva), axis=1))
        f1 = macro_f1(pred, yva)
        acc = 100.0 * np.mean(pred == yva)
        if ep % 4 == 0 or f1 > best:
            log.info("fold=%d ep=%02d lr0=%.4f train_ce=%.4f val_acc=%.1f%% val_f1=%.3f (majority f1 %.3f)",
                     k, ep, lr_now, tot / n_tr, acc, f1, base_f1)
        if f1 > best + 1e-4:
            best, best_ep, bad = f1, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= 6:
                log.info("fold=%d early stop at ep=%02d, restoring ep=%02d", k, ep, best_ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = np.array(mx.argmax(model(Xva), axis=1))
    rf1 = macro_f1(pred, yva)
    results.append((k, best_ep, rf1, 100.0 * np.mean(pred == yva), base_f1))

log.info("fold | best_ep | macro_f1 | acc%  | majority_f1")
for k, be, f1, acc, bf in results:
    log.info("%4d | %7d | %8.3f | %5.1f | %.3f", k, be, f1, acc, bf)
log.info("mean macro_f1 %.3f +- %.3f", np.mean([r[2] for r in results]), np.std([r[2] for r in results]))
