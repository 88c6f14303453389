"""Tatami maker: grade woven igusa (rush) mat facings into 4 grades from 9 inspection readings.

Readings (synthetic, made-up law): mean rush length, length spread, stem diameter, colour
(green index), moisture %, weave density (rows per shaku), warp tension, broken-stem count,
mud-dye evenness.  Grades: tokkyu / ikkyu / nikyu / keigai.  4-fold cross validation; in each
fold a small MLP is trained with a compiled SGD-momentum step, early stopping on validation
accuracy, and the best weights are put back before the fold's final score.
"""
import logging
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from functools import partial
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname).1s tatami %(message)s")
log = logging.getLogger("tatami")

rng = np.random.default_rng(20262)
N = 3200
length = rng.normal(0, 1, N)
spread = rng.gamma(2.0, 0.5, N)
diam = rng.normal(0, 1, N)
green = rng.normal(0, 1, N)
moist = rng.normal(0, 1, N)
density = rng.normal(0, 1, N)
tension = rng.normal(0, 1, N)
broken = rng.poisson(1.5, N).astype(float)
evenness = rng.uniform(-1, 1, N)
score = (1.1 * length - 0.8 * spread + 0.5 * green * (density > 0) + 0.9 * density
         - 0.6 * np.abs(moist) - 0.45 * broken + 0.7 * evenness * np.tanh(tension)
         + 0.3 * diam ** 2 + rng.normal(0, 0.55, N))
cuts = np.quantile(score, [0.15, 0.5, 0.85])
grade = np.digitize(score, cuts)                 # 0 keigai ... 3 tokkyu
grade = 3 - grade                                # 0 tokkyu (best) ... 3 keigai
X_all = np.stack([length, spread, diam, green, moist, density, tension, broken, evenness], 1)
X_all = X_all.astype(np.float32)
y_all = grade.astype(np.int32)

K = 4
folds = np.array_split(rng.permutation(N), K)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 48)
        self.l2 = nn.Linear(48, 48)
        self.l3 = nn.Linear(48, 4)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


fold_scores = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu = X_all[tr_idx].mean(0)
    sd = X_all[tr_idx].std(0)
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = mx.array(y_all[va_idx])
    majority = np.bincount(y_all[tr_idx]).max() / len(tr_idx)

    mx.random.seed(100 + k)
    model = Grader()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, xent)(model, x, y)
        opt.update(model, grads)
        return loss

    best_acc, best_ep, best_w, wait = -1.0, -1, None, 0
    PATIENCE, B = 7, 128
    log.info("fold %d/%d  train=%d  val=%d  majority-class=%.1f%%",
             k + 1, K, len(tr_idx), len(va_idx), 100 * majority)
    for ep in range(1, 61):
        order = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        nb = 0
        for i in range(0, len(tr_idx), B):
            idx = order[i:i + B]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        logits = model(Xva)
        acc = mx.mean(mx.argmax(logits, axis=1) == yva).item()
        vl = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        mark = ""
        if acc > best_acc:
            best_acc, best_ep, wait = acc, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
            mark = " *"
        else:
            wait += 1
        if ep % 3 == 0 or mark:
            log.info("  ep %02d  xent %.4f / %.4f  acc %5.1f%%%s", ep, tot / nb, vl, 100 * acc, mark)
        if wait >= PATIENCE:
            log.info("  stop at ep %d (no gain for %d), restoring ep %d", ep, PATIENCE, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    final = mx.mean(mx.argmax(model(Xva), axis=1) == yva).item()
    wn = sum(float(mx.sum(v * v).item()) for _, v in tree_flatten(model.parameters())) ** 0.5
    log.info("  fold %d restored acc %.1f%% (best logged %.1f%%, diff %+.2f pts)  |w|=%.3f",
             k + 1, 100 * final, 100 * best_acc, 100 * (final - best_acc), wn)
    fold_scores.append(final)

s = np.array(fold_scores)
log.info("CV accuracy %.1f%% +/- %.1f  (per fold: %s)", 100 * s.mean(), 100 * s.std(),
         " ".join(f"{100 * v:.1f}" for v in s))
