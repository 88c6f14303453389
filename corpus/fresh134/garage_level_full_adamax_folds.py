# Multi-storey car park: will this level be full within 30 minutes?
# 4-fold cross-validation, compiled train step, early stopping that restores
# the best weights of each fold. Log lines go through the logging module.
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("garage")

rng = np.random.default_rng(2026)
N = 1600
hour = rng.uniform(6, 23, N)
weekday = rng.integers(0, 7, N)
event = rng.random(N) < 0.15
rain = rng.random(N) < 0.25
occ = rng.beta(4, 2.5, N)                           # current occupancy fraction
inflow = rng.gamma(2.0, 6.0, N)                     # cars / 10 min
price = rng.choice([1.5, 2.0, 3.0], N)              # EUR / h
rush = np.exp(-((hour - 8.5) ** 2) / 2) + np.exp(-((hour - 17.5) ** 2) / 3)
logit = (7.5 * (occ - 0.72) + 0.09 * (inflow - 12) + 1.3 * event + 0.6 * rain
         + 1.1 * rush - 0.5 * (weekday >= 5) - 0.6 * (price - 2.0))
full30 = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(np.float32)

X = np.stack([np.sin(2 * math.pi * hour / 24), np.cos(2 * math.pi * hour / 24),
              (weekday >= 5).astype(float), event.astype(float), rain.astype(float),
              (occ - 0.6) / 0.2, (inflow - 12) / 8, price - 2.0], axis=1).astype(np.float32)
folds = np.array_split(rng.permutation(N), 4)

def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores)); ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())

def bce(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, with_logits=True)

fold_aucs, rule_aucs = [], []
for k in range(4):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    Xtr, ytr = mx.array(X[tr]), mx.array(full30[tr])
    Xva, yva = mx.array(X[va]), full30[va]

    mx.random.seed(100 + k)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Dropout(0.1), nn.Linear(32, 16),
                          nn.GELU(), nn.Linear(16, 1))
    opt = optim.Adamax(learning_rate=6e-3)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, bce)(model, x, y)
        opt.update(model, grads)
        return loss

    best_ll, best_params, best_ep, wait = float("inf"), None, -1, 0
    for ep in range(60):
        model.train()
        perm = rng.permutation(len(tr))
        tot = 0.0
        for s in range(0, len(tr), 50):
            bi = mx.array(perm[s:s + 50])
            loss = step(Xtr[bi], ytr[bi])
            mx.eval(state, loss)
            tot += float(loss) * len(bi)
        model.eval()
        logits = model(Xva).squeeze(-1)
        ll = float(bce(model, Xva, mx.array(yva)))
        a = auc(np.array(logits), yva)
        if ll < best_ll - 1e-4:
            best_ll, best_ep, wait = ll, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            wait += 1
        if ep % 4 == 0 or wait == 0:
            log.info("fold=%d ep=%02d train_ll=%.4f val_ll=%.4f val_auc=%.3f patience=%d/6",
                     k, ep, tot / len(tr), ll, a, wait)
        if wait >= 6:
            log.warning("fold=%d stop at ep=%02d, restoring ep=%02d (val_ll=%.4f)", k, ep, best_ep, best_ll)
            break
    model.update(best_params)
    model.eval()
    mx.eval(model.parameters())
    a = auc(np.array(model(Xva).squeeze(-1)), yva)
    r = auc(X[va, 5], yva)              # rule of thumb: occupancy alone
    fold_aucs.append(a); rule_aucs.append(r)
    log.info("fold=%d restored val_auc=%.3f | occupancy-only rule auc=%.3f", k, a, r)

log.info("CV auc %.3f +/- %.3f over %d folds (rule %.3f)", np.mean(fold_aucs), np.std(fold_aucs),
         len(fold_aucs), np.mean(rule_aucs))
