# Gas-lamp lamplighter rounds: minutes needed to light one street segment,
# from 6 synthetic round features. 3-fold CV, each fold trained from scratch
# with a warmup that starts at exactly lr=0, early stopping with best restore.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s lamplighter: %(message)s")
log = logging.getLogger()

rng = np.random.default_rng(2024)
N = 4200
lamps = rng.integers(4, 30, N).astype(np.float32)
ladder_m = rng.uniform(2.0, 4.5, N).astype(np.float32)
wind = rng.gamma(2.0, 3.0, N).astype(np.float32)
rain = (rng.random(N) < 0.3).astype(np.float32)
fog = rng.uniform(0, 1, N).astype(np.float32)
mantle_age = rng.uniform(0, 120, N).astype(np.float32)
minutes = (0.55 * lamps * (1 + 0.08 * (ladder_m - 2)) * (1 + 0.015 * wind) * (1 + 0.25 * rain)
           + 3.0 * fog ** 2 + 0.02 * mantle_age + 0.6 * rng.standard_normal(N)).astype(np.float32)
X = np.stack([lamps, ladder_m, np.log1p(wind), rain, fog, mantle_age], 1)
y = minutes


class RoundNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.norm = nn.LayerNorm(48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.norm(self.l1(x)))
        return self.out(nn.silu(self.l2(h))).squeeze(-1)


def huber(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


K, MAX_EPOCHS, PATIENCE, BS = 3, 60, 6, 128
folds = np.array_split(rng.permutation(N), K)
log.info("fold | epoch | lr        | train_huber | val_MAE_min | hit@1min% | naive_MAE_min")
summary = []
for k in range(K):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    xm, xs = X[tr].mean(0), X[tr].std(0) + 1e-6
    ym, ys = y[tr].mean(), y[tr].std()
    Xtr, Ytr = mx.array((X[tr] - xm) / xs), mx.array((y[tr] - ym) / ys)
    Xva = mx.array((X[va] - xm) / xs)
    Yva = y[va]
    naive = float(np.abs(Yva - ym).mean())

    mx.random.seed(100 + k)
    model = RoundNet()
    steps_per_epoch = math.ceil(len(tr) / BS)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, 3 * steps_per_epoch),
         optim.cosine_decay(3e-4, MAX_EPOCHS * steps_per_epoch, 1e-5)],
        [3 * steps_per_epoch])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, huber)
    best, best_params, bad = float("inf"), None, 0
    for epoch in range(1, MAX_EPOCHS + 1):
        lr_now = opt.learning_rate.item()
        order = np.random.default_rng(epoch + 31 * k).permutation(len(tr))
        tot = 0.0
        for i in range(0, len(tr), BS):
            idx = mx.array(order[i:i + BS])
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(order[i:i + BS])
        pred = np.array(model(Xva)) * ys + ym
        mae = float(np.abs(pred - Yva).mean())
        hit = 100.0 * float((np.abs(pred - Yva) <= 1.0).mean())
        if epoch % 5 == 0 or epoch == 1:
            log.info("%4d | %5d | %.3e | %11.4f | %11.3f | %8.1f | %13.3f",
                     k + 1, epoch, lr_now, tot / len(tr), mae, hit, naive)
        if mae < best - 1e-3:
            best, bad = mae, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= PATIENCE:
                log.info("fold %d: early stop at epoch %d (no val gain for %d epochs)", k + 1, epoch, PATIENCE)
                break
    model.update(best_params)
    pred = np.array(model(Xva)) * ys + ym
    restored = float(np.abs(pred - Yva).mean())
    log.info("fold %d: restored best weights, val_MAE_min=%.3f (best seen %.3f, naive %.3f)", k + 1, restored, best, naive)
    summary.append(restored)
log.info("CV val_MAE_min mean=%.3f std=%.3f over %d folds", np.mean(summary), np.std(summary), K)
