"""Canal narrowboat lock transit times, 4-fold cross-validation.

Predict how long (minutes) a narrowboat takes to work through a lock from
7 synthetic log-book features: lock rise (m), paddle gear condition, crew
size, whether the chamber is already set in our favour, boats waiting,
wind gust, and lock-keeper present.  Made-up law, ~1.2 min noise.

Each fold trains a fresh MLP with SGD (Nesterov momentum) inside a compiled
step, early-stops on the held-out fold and restores the best weights before
scoring.  Reports go through `logging`.
"""
import logging
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("locklog")

rng = np.random.default_rng(2127)
N = 4800
rise = rng.uniform(0.8, 4.5, N)
gear = rng.uniform(0.2, 1.0, N)           # 1 = freshly greased paddles
crew = rng.integers(1, 5, N).astype(float)
set_ok = (rng.random(N) < 0.45).astype(float)
waiting = rng.poisson(1.2, N).astype(float)
gust = rng.gamma(2.0, 3.0, N)
keeper = (rng.random(N) < 0.2).astype(float)
minutes = (4.0 + 2.6 * rise / (0.4 + gear) / np.sqrt(crew)
           + (1 - set_ok) * (3.0 + 1.4 * rise)
           + 6.5 * waiting * (1 - 0.4 * keeper)
           + 0.05 * np.maximum(gust - 8.0, 0.0) ** 2
           - 1.5 * keeper
           + rng.normal(0.0, 1.2, N))
X = np.stack([rise, gear, crew, set_ok, waiting, gust, keeper], 1).astype(np.float32)
y = minutes.astype(np.float32)

K = 4
folds = np.array_split(rng.permutation(N), K)


class LockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, x, t):
    return mx.mean((model(x) - t) ** 2)


summary = []
t_all = time.time()
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    xm, xs = X[tr_idx].mean(0), X[tr_idx].std(0) + 1e-6
    ym, ys = y[tr_idx].mean(), y[tr_idx].std()
    Xtr = mx.array((X[tr_idx] - xm) / xs); Ytr = mx.array((y[tr_idx] - ym) / ys)
    Xva = mx.array((X[va_idx] - xm) / xs); yva = y[va_idx]
    naive_mae = float(np.abs(yva - ym).mean())

    mx.random.seed(40 + k)
    model = LockNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
    loss_grad = nn.value_and_grad(model, mse)

    if k == 0:
        _, g = loss_grad(model, Xtr[:256], Ytr[:256])
        zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad audit: %d tensors, zero-grad tensors: %s", len(tree_flatten(g)), zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = loss_grad(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_epoch, best_params, bad = float("inf"), -1, None, 0
    patience, B = 6, 64
    ntr = len(tr_idx)
    for epoch in range(1, 61):
        order = mx.array(rng.permutation(ntr))
        run = 0.0
        for i in range(0, ntr - B + 1, B):
            idx = order[i:i + B]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(state)
            run += loss.item()
        nb = ntr // B
        pred = np.array(model(Xva)) * ys + ym
        mae = float(np.abs(pred - yva).mean())
        hit = 100.0 * float((np.abs(pred - yva) <= 1.5).mean())
        if mae < best - 1e-3:
            best, best_epoch, bad = mae, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
            mark = "*"
        else:
            bad += 1
            mark = ""
        if epoch % 3 == 0 or mark:
            log.info("fold %d/%d ep %02d train_mse(z) %.4f  val MAE %.2f min  within1.5 %.1f%%  (naive %.2f) %s",
                     k + 1, K, epoch, run / nb, mae, hit, naive_mae, mark)
        if bad >= patience:
            log.info("fold %d/%d stop at ep %d, restoring ep %d", k + 1, K, epoch, best_epoch)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = np.array(model(Xva)) * ys + ym
    mae = float(np.abs(pred - yva).mean())
    hit = 100.0 * float((np.abs(pred - yva) <= 1.5).mean())
    log.info("fold %d/%d restored: MAE %.3f min (best seen %.3f), within1.5 %.1f%%", k + 1, K, mae, best, hit)
    summary.append((mae, hit, naive_mae, best_epoch))

log.info("%-6s %8s %10s %9s %6s", "fold", "MAE", "within1.5", "naive", "ep*")
for k, (m, h, nv, be) in enumerate(summary):
    log.info("%-6d %8.3f %9.1f%% %9.2f %6d", k + 1, m, h, nv, be)
ms = np.array([s[0] for s in summary])
log.info("cv MAE %.3f +/- %.3f min over %d folds, %.1fs", ms.mean(), ms.std(), K, time.time() - t_all)
