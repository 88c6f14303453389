# Slot-canyon entry advisory: SAFE / CAUTION / CLOSED from upstream gauges.
# 5-fold cross-validation, a fresh net per fold, SGD with Nesterov momentum,
# compiled train step, early stopping on validation NLL with best-weight restore.
import logging
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("canyon")

rng = np.random.default_rng(2026)
N = 4000
FEATS = ["rain_1h_mm", "rain_6h_mm", "soil_sat", "upstream_cfs", "dewpoint_c", "cape_jkg"]
X = np.stack([
    rng.gamma(1.2, 4.0, N),
    rng.gamma(1.5, 10.0, N),
    rng.beta(2, 3, N),
    rng.lognormal(2.0, 0.8, N),
    rng.normal(8, 6, N),
    rng.gamma(2.0, 400.0, N),
], axis=1).astype(np.float32)
# made-up hazard score -> 3 ordered classes sampled from a softmax (irreducible noise)
score = (0.09 * X[:, 0] + 0.03 * X[:, 1] + 2.2 * X[:, 2] * (X[:, 1] > 12)
         + 0.02 * X[:, 3] + 0.0012 * X[:, 5] - 3.0)
logits = np.stack([-1.6 * score, 0.0 * score + 0.4, 1.6 * score - 0.4], axis=1)
p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
y = np.array([rng.choice(3, p=pi) for pi in p], dtype=np.int32)
X = (X - X.mean(0)) / X.std(0)
log.info("gauges=%d features=%s class share SAFE/CAUTION/CLOSED = %s",
         N, len(FEATS), np.round(np.bincount(y, minlength=3) / N, 3).tolist())


class Advisory(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x)


def nll(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


K = 5
folds = np.array_split(rng.permutation(N), K)
summary = []
t0 = time.time()
for f in range(K):
    va_idx = folds[f]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != f])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[va_idx]), mx.array(y[va_idx])
    majority = np.bincount(y[tr_idx], minlength=3).argmax()
    base_acc = 100.0 * np.mean(y[va_idx] == majority)
    prior = np.bincount(y[tr_idx], minlength=3) / len(tr_idx)
    base_nll = -np.mean(np.log(prior[y[va_idx]]))

    mx.random.seed(100 + f)
    model = Advisory()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, nll)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = vg(model, xb, yb)
        opt.update(model, g)
        return loss

    if f == 0:
        _, g0 = vg(model, Xtr[:256], ytr[:256])
        dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
        log.info("grad audit fold 0: %d tensors, %d with all-zero grad", len(tree_flatten(g0)), len(dead))

    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    log.info("fold %d/%d  train=%d valid=%d  baseline acc=%.1f%% nll=%.4f",
             f + 1, K, len(tr_idx), len(va_idx), base_acc, base_nll)
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(len(tr_idx)))
        run = 0.0
        for i in range(0, len(tr_idx), 128):
            ids = perm[i:i + 128]
            loss = step(Xtr[ids], ytr[ids])
            mx.eval(state, loss)
            run += loss.item() * ids.shape[0]
        lv = model(Xva)
        v_nll = nn.losses.cross_entropy(lv, yva, reduction="mean").item()
        v_acc = 100.0 * mx.mean(mx.argmax(lv, axis=1) == yva).item()
        if v_nll < best - 1e-4:
            best, best_ep, patience = v_nll, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
        if ep % 5 == 0 or ep == 1:
            log.info("  ep %2d | train nll %.4f | valid nll %.4f acc %5.1f%% | best@%d %.4f",
                     ep, run / len(tr_idx), v_nll, v_acc, best_ep, best)
        if patience >= 6:
            log.info("  early stop at ep %d (no gain for 6 epochs)", ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    lv = model(Xva)
    r_nll = nn.losses.cross_entropy(lv, yva, reduction="mean").item()
    r_acc = 100.0 * mx.mean(mx.argmax(lv, axis=1) == yva).item()
    log.info("  restored ep %d weights: valid nll %.4f (stored %.4f, diff %.1e) acc %.1f%%",
             best_ep, r_nll, best, abs(r_nll - best), r_acc)
    summary.append((f + 1, best_ep, base_nll, r_nll, base_acc, r_acc))

log.info("fold | best_ep | prior_nll | model_nll | majority_acc | model_acc")
for row in summary:
    log.info("%4d | %7d | %9.4f | %9.4f | %11.1f%% | %8.1f%%", *row)
arr = np.array(summary)
log.info("mean model nll %.4f vs prior %.4f ; mean acc %.1f%% vs %.1f%% ; %.1fs",
         arr[:, 3].mean(), arr[:, 2].mean(), arr[:, 5].mean(), arr[:, 4].mean(), time.time() - t0)
