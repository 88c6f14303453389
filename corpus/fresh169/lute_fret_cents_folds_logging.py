# Lute workshop notebook: predict the intonation error (in cents) of a tied gut fret
# from bench readings, 4-fold cross-validation, warmup from lr 0, early stopping + restore.
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s lute | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("lute")

rng = np.random.default_rng(1610)
N = 2400
fret = rng.integers(1, 11, N).astype(np.float32)            # fret number 1..10
course = rng.integers(1, 7, N).astype(np.float32)           # course 1 (chanterelle) .. 6
gauge = rng.uniform(0.40, 1.30, N).astype(np.float32)       # gut gauge, mm
tension = rng.uniform(2.5, 5.5, N).astype(np.float32)       # kg
humidity = rng.uniform(30, 75, N).astype(np.float32)        # % RH
height = rng.uniform(0.6, 1.6, N).astype(np.float32)        # fret gut height above board, mm
press = rng.uniform(0.2, 1.0, N).astype(np.float32)         # finger pressure, normalised

cents = (2.2 * height * press * (1 + 0.12 * fret)
         - 9.0 * (gauge - 0.8) * (1 + 0.05 * course)
         + 0.09 * (humidity - 50) * gauge
         - 1.4 * (tension - 4.0) / gauge
         + 1.5 * np.sin(fret * 0.9) * (course > 3)
         + rng.normal(0, 1.2, N)).astype(np.float32)

X = np.stack([fret, course, gauge, tension, humidity, height, press], 1)
X = (X - X.mean(0)) / X.std(0)
y = cents[:, None]


class FretNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


K, BS, MAX_EP, PATIENCE, WARM = 4, 64, 40, 5, 80
folds = np.array_split(rng.permutation(N), K)
t0 = time.time()
summary = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[va_idx]), mx.array(y[va_idx])
    base = float(np.mean((y[va_idx] - y[tr_idx].mean()) ** 2))

    mx.random.seed(100 + k)
    model = FretNet()
    steps_per_ep = len(tr_idx) // BS
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, MAX_EP * steps_per_ep, 1e-4)],
        [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, mse)

    if k == 0:
        _, g = step_fn(model, Xtr[:BS], ytr[:BS])
        zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad audit: %d tensors, zero-grad tensors: %s", len(tree_flatten(g)), zero or "none")

    best, best_ep, best_params, wait = float("inf"), -1, None, 0
    for ep in range(1, MAX_EP + 1):
        perm = mx.array(rng.permutation(len(tr_idx)))
        run = 0.0
        for i in range(steps_per_ep):
            idx = perm[i * BS:(i + 1) * BS]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        val = mse(model, Xva, yva).item()
        if ep in (1, 2, 3) or ep % 5 == 0:
            log.info("fold %d/%d ep %02d lr %.2e train %.3f c^2 val %.3f c^2 (mean-guess %.2f c^2)",
                     k + 1, K, ep, float(opt.learning_rate), run / steps_per_ep, val, base)
        if val < best - 1e-3:
            best, best_ep, wait = val, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
            if wait >= PATIENCE:
                log.info("fold %d/%d early stop at ep %02d (no gain for %d epochs)", k + 1, K, ep, PATIENCE)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    chk = mse(model, Xva, yva).item()
    log.info("fold %d/%d restored ep %02d: val rmse %.3f c (check %.3f c, diff %.1e) vs mean-guess %.3f c",
             k + 1, K, best_ep, math.sqrt(best), math.sqrt(chk), abs(chk - best), math.sqrt(base))
    summary.append((math.sqrt(chk), math.sqrt(base)))

cv = float(np.mean([s[0] for s in summary]))
cb = float(np.mean([s[1] for s in summary]))
log.info("CV intonation rmse %.3f cents (baseline %.3f cents, %.1f%% of baseline) in %.1f s",
         cv, cb, 100 * cv / cb, time.time() - t0)
