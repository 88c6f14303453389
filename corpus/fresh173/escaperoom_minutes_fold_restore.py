"""Escape-room venue: how many minutes will a booked team use?

Regress minutes used (cap 60) from booking/team features, 5-fold CV.
Each fold: fresh MLP, RMSprop with LR warm-up from exactly 0, early stop
on validation MAE with the best weights restored at the end of the fold.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("escape")

rng = np.random.default_rng(11)
N = 1800
size = rng.integers(2, 7, N)
played = rng.poisson(3.0, N).astype(np.float64)
hints = rng.poisson(2.0, N).astype(np.float64)
difficulty = rng.integers(1, 6, N).astype(np.float64)
first_timers = rng.uniform(0, 1, N)
lang_match = (rng.uniform(0, 1, N) < 0.85).astype(np.float64)
late_start = np.clip(rng.exponential(2.0, N), 0, 15)
minutes = (30 + 6.0 * difficulty - 4.5 * np.log1p(played) + 2.2 * hints
           - 1.8 * (size - 4) ** 2 * -0.3 + 7.0 * first_timers * (difficulty > 3)
           + 5.0 * (1 - lang_match) + 0.4 * late_start
           - 1.5 * np.sqrt(size) + rng.normal(0, 3.0, N))
minutes = np.clip(minutes, 12, 60)
X = np.stack([size, played, hints, difficulty, first_timers, lang_match, late_start], 1)
folds = rng.permutation(N) % 5


class MinutesNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1 = nn.Linear(d_in, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


summary = []
t0 = time.time()
for k in range(5):
    tr, va = folds != k, folds == k
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    ym, ys = minutes[tr].mean(), minutes[tr].std()
    xtr = mx.array(((X[tr] - mu) / sd).astype(np.float32))
    ytr = mx.array(((minutes[tr] - ym) / ys).astype(np.float32))
    xva = mx.array(((X[va] - mu) / sd).astype(np.float32))
    yva_min = minutes[va]
    base_mae = float(np.abs(yva_min - ym).mean())
    base_call = float(((np.full_like(yva_min, ym) >= 59.5) == (yva_min >= 59.5)).mean() * 100)

    mx.random.seed(100 + k)
    model = MinutesNet(X.shape[1])
    mx.eval(model.parameters())
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 30),
                                  optim.cosine_decay(2e-3, 600, 2e-4)], [30])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    step_fn = nn.value_and_grad(model, mse)

    best, best_ep, best_w, bad = math.inf, -1, None, 0
    ntr = xtr.shape[0]
    for ep in range(1, 41):
        perm = mx.array(rng.permutation(ntr))
        tot, nb = 0.0, 0
        for i in range(0, ntr, 64):
            idx = perm[i:i + 64]
            loss, g = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        pred = np.array(model(xva)) * ys + ym
        mae = float(np.abs(pred - yva_min).mean())
        call = float(((pred >= 59.5) == (yva_min >= 59.5)).mean() * 100)
        log.info("fold %d/5 ep %02d | train_mse %.4f | val_mae %.2f min (mean-guess %.2f) | "
                 "escape-call %.1f%% (base %.1f%%) | lr %.2e",
                 k + 1, ep, tot / nb, mae, base_mae, call, base_call, opt.learning_rate.item())
        if mae < best - 0.01:
            best, best_ep, bad = mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= 5:
                log.info("fold %d/5 early stop at ep %02d (no gain for 5 epochs)", k + 1, ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = np.array(model(xva)) * ys + ym
    mae = float(np.abs(pred - yva_min).mean())
    log.info("fold %d/5 restored ep %02d weights -> val_mae %.2f min", k + 1, best_ep, mae)
    summary.append((k + 1, best_ep, mae, base_mae))

print()
print("fold | best_ep | val_mae_min | mean_guess_min | gain")
for k, e, m, b in summary:
    print(f"{k:>4} | {e:>7} | {m:>11.2f} | {b:>14.2f} | {100 * (1 - m / b):5.1f}%")
avg = np.mean([s[2] for s in summary])
print(f"cv mean val_mae {avg:.2f} min over 5 folds in {time.time() - t0:.1f}s")
