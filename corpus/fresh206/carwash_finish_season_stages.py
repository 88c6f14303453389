"""Conveyor car wash - predict the finish a customer drives off with
(spotless / water spots / film) from six readings at the exit arch.

Trained in two stages: summer tickets first, then the whole year (winter
tickets are harder: cold rinse water, salt film).  Each stage has its own
epoch counter and early stopping that restores the best weights.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
log = logging.getLogger("washbay")

rng = np.random.default_rng(2024)
mx.random.seed(3)
CLASSES = ["spotless", "spots", "film"]


def tickets(n, winter):
    ambient = rng.uniform(-8, 8, n) if winter else rng.uniform(16, 34, n)
    hardness = rng.normal(9 if winter else 6, 2.0, n)          # grains per gallon
    ro_ratio = rng.uniform(0.2, 1.0, n)                        # share of RO water in final rinse
    blower = rng.uniform(0.4, 1.0, n)                          # dryer duty
    conveyor = rng.uniform(1.0, 3.0, n)                        # m/min
    soap = rng.normal(1.0, 0.25, n)                            # relative chemical dose
    salt = (rng.random(n) < (0.6 if winter else 0.05)).astype(np.float64)
    z_spots = 0.35 * (hardness - 7) * (1 - ro_ratio) * 2 - 2.5 * (blower - 0.7) + 0.6 * (conveyor - 2) + 0.04 * (ambient - 15)
    z_film = 1.8 * salt * (1.3 - soap) + 1.2 * (soap - 1.0) ** 2 * 4 - 0.05 * ambient + 0.5 * (conveyor - 2) - 0.5
    logits = np.stack([np.zeros(n), z_spots, z_film], axis=1) * 1.6
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    x = np.stack([ambient / 15.0, (hardness - 7) / 2.5, ro_ratio, blower, conveyor - 2.0, soap - 1.0, salt], axis=1)
    return x.astype(np.float32), y.astype(np.int32)


xs_tr, ys_tr = tickets(3000, False)
xs_va, ys_va = tickets(600, False)
xw_tr, yw_tr = tickets(3000, True)
xw_va, yw_va = tickets(600, True)


class FinishNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    mx.eval(loss, acc)
    return loss.item(), 100.0 * acc.item()


def majority(y):
    return 100.0 * np.bincount(y, minlength=3).max() / len(y)


model = FinishNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, ce)

_, g = vg(model, mx.array(xs_tr[:256]), mx.array(ys_tr[:256]))
dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
log.info("gradient check: %d tensors, %d without gradient %s", len(tree_flatten(g)), len(dead), dead)

stages = [
    ("summer", xs_tr, ys_tr, xs_va, ys_va, 0.05, 40),
    ("all-year", np.concatenate([xs_tr, xw_tr]), np.concatenate([ys_tr, yw_tr]),
     np.concatenate([xs_va, xw_va]), np.concatenate([ys_va, yw_va]), 0.03, 40),
]
BATCH, PATIENCE = 100, 6
t0 = time.time()
for name, xtr, ytr, xva, yva, lr, max_ep in stages:
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
    base = majority(yva)
    v0, a0 = evaluate(model, Xva, Yva)
    log.info("stage %-8s | start val_ce %.4f acc %.1f%% | majority-class baseline %.1f%%", name, v0, a0, base)
    log.info("| stage    |  ep | train_ce |  val_ce | val_acc | base  |")
    best, best_ep, best_params, wait = float("inf"), 0, None, 0
    for ep in range(1, max_ep + 1):
        perm = np.random.default_rng(ep).permutation(len(xtr))
        tot = 0.0
        for i in range(0, len(xtr), BATCH):
            idx = mx.array(perm[i:i + BATCH])
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(perm[i:i + BATCH])
        vl, va = evaluate(model, Xva, Yva)
        log.info("| %-8s | %3d | %8.4f | %7.4f | %6.1f%% | %4.1f%% |", name, ep, tot / len(xtr), vl, va, base)
        if vl < best - 1e-4:
            best, best_ep, wait = vl, ep, 0
            best_params = tree_map(lambda p: p, model.parameters())
        else:
            wait += 1
            if wait >= PATIENCE:
                log.warning("stage %s: no val improvement for %d epochs, stopping at ep %d", name, PATIENCE, ep)
                break
    model.update(best_params)
    vl, va = evaluate(model, Xva, Yva)
    log.info("stage %s: restored ep %d weights -> val_ce %.4f acc %.1f%%", name, best_ep, vl, va)

s = evaluate(model, mx.array(xs_va), mx.array(ys_va))
w = evaluate(model, mx.array(xw_va), mx.array(yw_va))
log.info("final by season: summer ce %.4f acc %.1f%% (base %.1f%%) | winter ce %.4f acc %.1f%% (base %.1f%%) | %.1fs",
         s[0], s[1], majority(ys_va), w[0], w[1], majority(yw_va), time.time() - t0)
