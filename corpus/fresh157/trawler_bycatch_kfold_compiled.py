"""Trawler logbook: does a haul go over the bycatch limit?

4-fold cross-validation of a small classifier.  Each fold builds a fresh model,
a fresh optimizer and a fresh compiled step; epochs restart at 1 in every fold.
Early stopping watches the validation Brier score and restores the best epoch's
weights before the fold is scored.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("bycatch")

rng = np.random.default_rng(2026)
N = 4800
mesh_mm = rng.uniform(70, 130, N)
speed_kn = rng.uniform(2.0, 4.5, N)
depth_m = rng.uniform(20, 400, N)
bottom_c = rng.normal(9.0, 2.5, N)
hour = rng.uniform(0, 24, N)
tow_h = rng.uniform(0.5, 5.0, N)
excluder = (rng.uniform(size=N) < 0.5).astype(np.float64)
moon = rng.uniform(0, 1, N)   # lunar phase 0..1

z = (
    -0.045 * (mesh_mm - 100)
    + 0.9 * (speed_kn - 3.2)
    + 1.6 * np.exp(-((depth_m - 120) / 70) ** 2)
    + 0.25 * (bottom_c - 9.0)
    + 0.8 * np.cos(2 * np.pi * (hour - 3) / 24)
    + 0.45 * tow_h
    - 1.5 * excluder
    + 0.6 * np.sin(2 * np.pi * moon) * (1 - excluder)
    - 0.9
)
p_true = 1 / (1 + np.exp(-z))
y_all = (rng.uniform(size=N) < p_true).astype(np.float32)
X_all = np.stack([mesh_mm, speed_kn, depth_m, bottom_c,
                  np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  tow_h, excluder, np.sin(2 * np.pi * moon), np.cos(2 * np.pi * moon)], 1).astype(np.float32)
log.info("hauls=%d  over-limit share=%.1f%%  bayes brier=%.4f", N, 100 * y_all.mean(),
         float(np.mean((p_true - y_all) ** 2)))


class HaulNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.layers = [nn.Linear(d_in, 48), nn.Linear(48, 48), nn.Linear(48, 1)]

    def __call__(self, x):
        for lyr in self.layers[:-1]:
            x = nn.gelu(lyr(x))
        return self.layers[-1](x).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def make_step(model, opt):
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, bce)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    return step, state


K = 4
folds = np.array_split(rng.permutation(N), K)
BATCH, MAX_EP, PATIENCE = 64, 40, 5
summary = []
t0 = time.time()
for f in range(K):
    va_idx = folds[f]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != f])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0)
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = mx.array(y_all[va_idx])

    mx.random.seed(100 + f)
    model = HaulNet(X_all.shape[1])
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    step, state = make_step(model, opt)

    best_brier, best_ep, best_params, wait = 1e9, 0, None, 0
    for ep in range(1, MAX_EP + 1):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot, nb = 0.0, 0
        for s in range(0, len(tr_idx) - BATCH + 1, BATCH):
            b = perm[s:s + BATCH]
            loss = step(Xtr[b], ytr[b])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        p = mx.sigmoid(model(Xva))
        brier = mx.mean((p - yva) ** 2).item()
        acc = mx.mean((p > 0.5) == (yva > 0.5)).item()
        if brier < best_brier - 1e-5:
            best_brier, best_ep, wait = brier, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        log.info("fold=%d ep=%02d bce=%.4f brier=%.4f acc=%.1f%% (best ep %02d)",
                 f + 1, ep, tot / nb, brier, 100 * acc, best_ep)
        if wait >= PATIENCE:
            log.info("fold=%d stop at ep %02d, restoring ep %02d", f + 1, ep, best_ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    p = mx.sigmoid(model(Xva))
    brier = mx.mean((p - yva) ** 2).item()
    acc = mx.mean((p > 0.5) == (yva > 0.5)).item()
    prior = float(y_all[tr_idx].mean())
    base = float(np.mean((prior - y_all[va_idx]) ** 2))
    summary.append((f + 1, best_ep, brier, base, 100 * acc))

print()
print("fold | best_ep | brier  | prior_brier | acc")
for row in summary:
    print("%4d | %7d | %.4f | %11.4f | %.1f%%" % row)
b = np.array([r[2] for r in summary])
print("mean brier %.4f +- %.4f   (%.1f s)" % (b.mean(), b.std(), time.time() - t0))
