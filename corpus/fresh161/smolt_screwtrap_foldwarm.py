"""Nightly salmon-smolt counts at a rotary screw trap.

Poisson regression (log-link, one small hidden layer) of the number of smolts
caught per night from river covariates.  5-fold cross-validation; inside each
fold the learning rate ramps linearly from exactly 0, then decays with a
cosine.  Early stopping on the held-out deviance restores the best weights.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s trap: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("screwtrap")

rng = random.Random(161)
mx.random.seed(161)

# ---- synthetic trap nights (stdlib only) ---------------------------------
N_NIGHTS = 600
rows, counts = [], []
for night in range(N_NIGHTS):
    doy = rng.uniform(90, 170)               # day of year, spring run
    temp = 4 + 0.09 * (doy - 90) + rng.gauss(0, 1.2)      # deg C
    flow = math.exp(rng.gauss(3.0, 0.45))    # m3/s
    moon = rng.random()                       # lunar illumination 0..1
    turb = max(0.0, rng.gauss(12, 6))        # NTU
    cone = 1.0 if rng.random() < 0.5 else 0.0  # trap cone lowered fully
    peak = math.exp(-((doy - 128) / 14.0) ** 2)
    log_rate = (0.6 + 2.4 * peak + 0.10 * (temp - 9) + 0.35 * math.log(flow / 20)
                - 0.9 * moon + 0.015 * turb + 0.4 * cone)
    lam = math.exp(log_rate)
    # Poisson draw (Knuth) - lam stays small enough
    L, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= L:
            break
        k += 1
    rows.append([(doy - 130) / 25, (temp - 9) / 3, math.log(flow / 20), moon,
                 (turb - 12) / 6, cone])
    counts.append(float(k))

X_all = mx.array(rows)
y_all = mx.array(counts)
order = list(range(N_NIGHTS))
rng.shuffle(order)
K = 5
folds = [order[i::K] for i in range(K)]


class SmoltRate(nn.Module):
    def __init__(self, d_in=6, hidden=16):
        super().__init__()
        self.hidden = nn.Linear(d_in, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.hidden(x))).squeeze(-1)  # log rate


def poisson_deviance(log_mu, y):
    mu = mx.exp(log_mu)
    term = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-9) / mu), 0.0)
    return 2.0 * mx.mean(term - (y - mu))


def loss_fn(model, x, y):
    return poisson_deviance(model(x), y)


EPOCHS = 60
BATCH = 48
PATIENCE = 12
summary = []
for f in range(K):
    val_idx = mx.array(folds[f])
    tr_list = [i for g in range(K) if g != f for i in folds[g]]
    Xtr, ytr = X_all[mx.array(tr_list)], y_all[mx.array(tr_list)]
    Xva, yva = X_all[val_idx], y_all[val_idx]
    null_dev = poisson_deviance(mx.log(mx.mean(ytr)) * mx.ones(yva.shape), yva).item()

    model = SmoltRate()
    mx.eval(model.parameters())
    steps_per_epoch = math.ceil(len(tr_list) / BATCH)
    warm = 3 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, warm),
         optim.cosine_decay(2e-2, (EPOCHS - 3) * steps_per_epoch, 1e-4)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    # every trainable tensor receives gradient
    _, g0 = vg(model, Xtr[:BATCH], ytr[:BATCH])
    zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
    log.info("fold %d/%d: %d train nights, %d held out, zero-grad tensors=%s, null deviance %.3f",
             f + 1, K, len(tr_list), len(folds[f]), zero or "none", null_dev)

    best, best_ep, best_params, bad = float("inf"), -1, None, 0
    for ep in range(1, EPOCHS + 1):
        perm = mx.random.permutation(len(tr_list))
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            lr_now = opt.learning_rate.item()
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.size
        tr_dev = tot / len(tr_list)
        va_dev = poisson_deviance(model(Xva), yva).item()
        expl = 100.0 * (1.0 - va_dev / null_dev)
        if ep == 1 or ep % 10 == 0:
            log.info("fold %d ep %02d lr=%.5f train_dev=%.4f holdout_dev=%.4f (null %.4f) "
                     "dev_explained=%.1f%%", f + 1, ep, lr_now, tr_dev, va_dev, null_dev, expl)
        if va_dev < best - 1e-4:
            best, best_ep, bad = va_dev, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= PATIENCE:
                log.info("fold %d: no holdout gain for %d epochs, stop at ep %d", f + 1, PATIENCE, ep)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = poisson_deviance(model(Xva), yva).item()
    pred_total = mx.exp(model(Xva)).sum().item()
    obs_total = yva.sum().item()
    log.info("fold %d: restored ep %d weights, holdout_dev=%.4f |restored-best|=%.2e, "
             "smolts predicted %.0f vs counted %.0f", f + 1, best_ep, restored,
             abs(restored - best), pred_total, obs_total)
    summary.append((f + 1, best_ep, null_dev, restored, 100 * (1 - restored / null_dev),
                    pred_total, obs_total))

log.info("fold | best_ep | null_dev | model_dev | explained | pred/obs")
for f, be, nd, md, ex, pt, ot in summary:
    log.info("%4d | %7d | %8.3f | %9.3f | %8.1f%% | %.0f/%.0f", f, be, nd, md, ex, pt, ot)
mean_ex = sum(s[4] for s in summary) / K
log.info("cv mean deviance explained %.1f%%", mean_ex)
