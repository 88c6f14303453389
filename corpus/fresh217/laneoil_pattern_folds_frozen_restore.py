"""Bowling-centre lane maintenance: which oil pattern is on this lane?

A lane machine tape reading gives the oil units on boards 1-12 (one half of the
lane, the other half mirrored), the forward oil length in feet and the total
volume in ml.  Four patterns: house (crowned), sport (flat), short, long.

Per fold: a fixed random projection (frozen on purpose, never trained) feeds a
trained tanh layer and a linear head.  SGD with Nesterov momentum and a step
decay.  Early stopping on validation loss with restore of the best weights.
Everything goes through the logging module.
"""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s lanes.%(name)s | %(message)s")
log = logging.getLogger("cv")

PATTERNS = ["house", "sport", "short", "long"]
rng = np.random.default_rng(8217)


def tape_readings(n):
    y = rng.integers(0, 4, n)
    boards = np.arange(1, 13, dtype=np.float64)
    X = np.zeros((n, 14))
    for i in range(n):
        base = rng.uniform(18, 30)
        if y[i] == 0:      # house: crown, heavy in the middle, dry outside
            prof = base * (0.55 + 0.75 * (boards / 12.0) ** rng.uniform(1.2, 2.2))
            length = rng.normal(40, 2.0)
        elif y[i] == 1:    # sport: nearly flat
            prof = base * (0.9 + 0.2 * (boards / 12.0) ** 1.5)
            length = rng.normal(41, 2.0)
        elif y[i] == 2:    # short: mildly crowned, short
            prof = base * (0.75 + 0.45 * (boards / 12.0) ** 1.6)
            length = rng.normal(36, 1.8)
        else:              # long: mildly crowned, long
            prof = base * (0.75 + 0.45 * (boards / 12.0) ** 1.6)
            length = rng.normal(45, 1.8)
        prof = prof + rng.normal(0, 2.2, 12)          # tape noise
        X[i, :12] = prof
        X[i, 12] = length
        X[i, 13] = prof.sum() * length / 20.0 + rng.normal(0, 8)
    return X.astype(np.float32), y.astype(np.int32)


X, y = tape_readings(3000)
K = 4
folds = np.array_split(rng.permutation(len(y)), K)


class PatternNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(14, 48)     # random features, frozen below
        self.mix = nn.Linear(48, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        h = mx.cos(self.proj(x))
        h = mx.tanh(self.mix(h))
        return self.head(h)


def xent(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def evaluate(model, xb, yb):
    logits = model(xb)
    loss = nn.losses.cross_entropy(logits, yb, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == yb).astype(mx.float32).mean()
    mx.eval(loss, acc)
    return loss.item(), 100.0 * acc.item()


summary = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    xtr = mx.array((X[tr_idx] - mu) / sd)
    ytr = mx.array(y[tr_idx])
    xva = mx.array((X[va_idx] - mu) / sd)
    yva = mx.array(y[va_idx])

    mx.random.seed(100 + k)
    model = PatternNet()
    model.proj.freeze()
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    opt = optim.SGD(learning_rate=optim.step_decay(0.08, 0.5, 300),
                    momentum=0.9, nesterov=True)
    grad_fn = nn.value_and_grad(model, xent)
    log.info("fold %d/%d: train %d val %d, trainable %d of %d params (proj frozen)",
             k + 1, K, len(tr_idx), len(va_idx), n_train, n_all)

    best = (float("inf"), -1, None)
    patience, bad = 6, 0
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot, nb = 0.0, 0
        for s in range(0, len(tr_idx), 128):
            b = perm[s:s + 128]
            loss, grads = grad_fn(model, xtr[b], ytr[b])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        vloss, vacc = evaluate(model, xva, yva)
        if vloss < best[0] - 1e-4:
            snap = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(snap)
            best = (vloss, epoch, snap)
            bad = 0
            mark = "*"
        else:
            bad += 1
            mark = ""
        if epoch % 5 == 0 or mark == "*" and epoch <= 3:
            log.info("fold %d ep %02d  xent %.4f  val_xent %.4f  val_acc %5.1f%%  lr %.4f %s",
                     k + 1, epoch, tot / nb, vloss, vacc, float(opt.learning_rate), mark)
        if bad >= patience:
            log.info("fold %d: no val improvement for %d epochs, stopping at ep %d",
                     k + 1, patience, epoch)
            break
    model.update(best[2])
    mx.eval(model.parameters())
    vloss, vacc = evaluate(model, xva, yva)
    tloss, tacc = evaluate(model, xtr, ytr)
    log.info("fold %d: restored ep %d weights -> val_xent %.4f val_acc %.1f%%",
             k + 1, best[1], vloss, vacc)
    summary.append((k + 1, best[1], tloss, vloss, tacc, vacc))

log.info("fold | best_ep | train_xent | val_xent | train_acc | val_acc | chance")
for f, be, tl, vl, ta, va in summary:
    log.info("%4d | %7d | %10.4f | %8.4f | %8.1f%% | %6.1f%% | 25.0%%", f, be, tl, vl, ta, va)
accs = [r[5] for r in summary]
log.info("cv val_acc %.1f%% +- %.1f (chance 25.0%%, ln4 = %.4f nats)",
         float(np.mean(accs)), float(np.std(accs)), float(np.log(4)))
