"""Ski-lift operations desk: call the lift status for the next hour.

0 = open, 1 = wind hold, 2 = closed, from 8 synthetic mountain-station readings.
Two-stage curriculum: stage "calm" trains only on unambiguous hours, stage "full"
adds the gusty, borderline hours (with dispatcher disagreement in the labels), so the
training loss goes UP when the stage changes. Early stopping on validation miss rate,
with the best weights restored at the end.
"""
import logging
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("liftdesk")

rng = np.random.default_rng(2024)


def station_hours(n):
    wind = rng.gamma(2.0, 6.0, n)                  # m/s mean wind at top station
    gust = wind + rng.gamma(1.5, 4.0, n)           # m/s
    direction = rng.uniform(0, 2 * np.pi, n)
    temp = rng.normal(-6, 6, n)                    # deg C
    vis = rng.uniform(0.05, 10, n)                 # km
    ice = rng.uniform(0, 1, n)
    load = rng.uniform(0, 1, n)                    # chair loading fraction
    snow = rng.gamma(1.2, 2.0, n)                  # cm/h
    cross = np.abs(np.sin(direction - 0.7)) * gust
    score_hold = 0.22 * cross + 0.08 * gust - 0.3 * load - 4.0
    score_close = 0.25 * gust + 2.5 * ice + 0.3 * snow - 0.4 * vis + 0.02 * (-temp) - 9.0
    logits = np.stack([np.zeros(n), score_hold, score_close], 1) * 1.6
    margin = np.sort(logits, 1)[:, -1] - np.sort(logits, 1)[:, -2]
    label = logits.argmax(1)
    # borderline hours: dispatchers disagree 25 % of the time
    hard = margin < 2.0
    flip = hard & (rng.uniform(size=n) < 0.25)
    label[flip] = rng.integers(0, 3, flip.sum())
    X = np.stack([wind, gust, np.sin(direction), np.cos(direction), temp, vis, ice, load, snow], 1)
    return X.astype(np.float32), label.astype(np.int32), hard


Xtr, ytr, hard_tr = station_hours(8000)
Xva, yva, _ = station_hours(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xva_mx, yva_mx = mx.array(Xva), mx.array(yva)
log.info("hours: train %d (%.1f%% borderline), valid %d; class mix %s",
         len(ytr), 100 * hard_tr.mean(), len(yva), np.bincount(ytr, minlength=3).tolist())

mx.random.seed(11)
model = nn.Sequential(nn.Linear(9, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 3))
opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
state = [model.state, opt.state]


def loss_fn(x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
    opt.update(model, grads)
    return loss


# audit: every weight gets a gradient on a first batch
_, g = nn.value_and_grad(model, loss_fn)(mx.array(Xtr[:512]), mx.array(ytr[:512]))
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
log.info("grad audit: min |g| %.2e over %d tensors", min(norms.values()), len(norms))


def miss_rate():
    pred = mx.argmax(model(Xva_mx), axis=1)
    return 100.0 * mx.mean(pred != yva_mx).item()


def bar(done, total, width=24):
    k = int(width * done / total)
    return "|" + "#" * k + " " * (width - k) + "|"


stages = [("calm", np.where(~hard_tr)[0], 6), ("full", np.arange(len(ytr)), 30)]
best, best_w, patience, BATCH = 1e9, None, 6, 64
t0 = time.time()
for name, pool, max_epochs in stages:
    bad = 0
    for ep in range(1, max_epochs + 1):
        order = rng.permutation(pool)
        nb = len(order) // BATCH
        tot = 0.0
        for b in range(nb):
            idx = order[b * BATCH:(b + 1) * BATCH]
            loss = train_step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state, loss)
            tot += loss.item()
        miss = miss_rate()
        flag = ""
        if miss < best - 1e-9:
            best, bad, flag = miss, 0, " *"
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
        log.info("%-4s %s %2d/%d  xent=%.4f  miss=%5.2f%%  best=%5.2f%%%s",
                 name, bar(ep, max_epochs), ep, max_epochs, tot / nb, miss, best, flag)
        if name == "full" and bad >= patience:
            log.info("stage %s: no gain for %d epochs, stopping", name, patience)
            break

model.update(best_w)
mx.eval(model.parameters())
log.info("restored best weights: miss=%.2f%% (majority-class guess %.2f%%) in %.1fs",
         miss_rate(), 100.0 * (1 - np.bincount(yva, minlength=3).max() / len(yva)), time.time() - t0)
