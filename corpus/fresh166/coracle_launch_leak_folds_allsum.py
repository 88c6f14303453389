"""Coracle workshop: will a newly built coracle take on water at its launch test?

7 build-sheet readings per boat (synthetic): willow rod count, rod thickness (mm),
calico coats of tar, hull diameter (cm), seat height (cm), drying days, paddler mass (kg).
5-fold cross-validation; each fold starts a fresh MLP, learning rate warms up from
exactly 0, gradients go through mx.distributed (one process here, same code on a
workshop cluster), early stopping keeps the best validation weights and restores them.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s coracle: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger()

world = mx.distributed.init()
log.info("distributed group: rank %d of %d", world.rank(), world.size())

rng = np.random.default_rng(2024)
N = 2400
rods = rng.integers(14, 30, N).astype(np.float32)
thick = rng.uniform(8, 18, N).astype(np.float32)
coats = rng.integers(1, 5, N).astype(np.float32)
diam = rng.uniform(100, 150, N).astype(np.float32)
seat = rng.uniform(20, 45, N).astype(np.float32)
dry = rng.integers(1, 15, N).astype(np.float32)
mass = rng.uniform(50, 110, N).astype(np.float32)
# made-up law: leaks when under-tarred, under-dried, and heavily loaded small hulls
load = mass / (diam / 125.0) ** 2
z = (1.6 - 0.9 * coats - 0.18 * dry + 0.035 * (load - 80) + 0.06 * (seat - 30)
     - 0.12 * (rods - 22) + 0.9 * np.sin(thick / 2.0) + 0.5 * (coats < 2) * (dry < 5))
leak = (rng.random(N) < 1 / (1 + np.exp(-z))).astype(np.float32)
X = np.stack([rods, thick, coats, diam, seat, dry, mass], 1)
X = (X - X.mean(0)) / X.std(0)
log.info("boats %d, leak rate %.1f%%", N, 100 * leak.mean())

K = 5
folds = np.array_split(rng.permutation(N), K)


def make_model():
    return nn.Sequential(nn.Linear(7, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 1))


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x).squeeze(-1), y, with_logits=True, reduction="mean")


def metrics(model, x, y):
    logit = model(x).squeeze(-1)
    l = nn.losses.binary_cross_entropy(logit, y, with_logits=True, reduction="mean")
    acc = ((logit > 0) == (y > 0.5)).astype(mx.float32).mean()
    return l.item(), 100 * acc.item()


EPOCHS, B, PATIENCE, WARM = 60, 64, 8, 4
summary = []
for k in range(K):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    xtr, ytr = mx.array(X[tr]), mx.array(leak[tr])
    xva, yva = mx.array(X[va]), mx.array(leak[va])
    base_rate = max(leak[tr].mean(), 1 - leak[tr].mean())

    mx.random.seed(100 + k)
    model = make_model()
    steps_per_epoch = math.ceil(len(tr) / B)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, WARM * steps_per_epoch), optim.cosine_decay(0.08, (EPOCHS - WARM) * steps_per_epoch, 0.01)],
        [WARM * steps_per_epoch])
    opt = optim.Adagrad(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    best, best_ep, best_w, bad = float("inf"), -1, None, 0
    log.info("fold %d/%d: train %d, val %d, majority-class baseline %.1f%%", k + 1, K, len(tr), len(va), 100 * base_rate)
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(len(tr))
        run = 0.0
        for i in range(0, len(tr), B):
            bi = mx.array(perm[i:i + B])
            loss, grads = vg(model, xtr[bi], ytr[bi])
            grads = tree_map(lambda g: mx.distributed.all_sum(g, group=world) / world.size(), grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item() * len(bi)
        if ep == 1:
            zero = [n for n, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            log.info("fold %d grad check: %d tensors, all-zero: %s", k + 1, len(tree_flatten(grads)), zero or "none")
        vl, vacc = metrics(model, xva, yva)
        lr_now = opt.learning_rate.item()
        if ep == 1 or ep % 5 == 0:
            log.info("fold %d ep %02d lr=%.4f train_bce=%.4f val_bce=%.4f val_acc=%.1f%%",
                     k + 1, ep, lr_now, run / len(tr), vl, vacc)
        if vl < best - 1e-4:
            best, best_ep, bad = vl, ep, 0
            best_w = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= PATIENCE:
                log.info("fold %d: no val improvement for %d epochs, stopping at ep %d", k + 1, PATIENCE, ep)
                break
    model.update(best_w)
    vl, vacc = metrics(model, xva, yva)
    log.info("fold %d restored ep %d weights: val_bce=%.4f val_acc=%.1f%% (baseline %.1f%%)",
             k + 1, best_ep, vl, vacc, 100 * base_rate)
    summary.append((vl, vacc, 100 * base_rate))

s = np.array(summary)
log.info("CV over %d folds: val_bce %.4f +- %.4f, val_acc %.1f%% +- %.1f (majority baseline %.1f%%)",
         K, s[:, 0].mean(), s[:, 0].std(), s[:, 1].mean(), s[:, 1].std(), s[:, 2].mean())
