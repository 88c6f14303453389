"""Laundromat dryer: will the load come out dry when the cycle ends?

Binary classifier on synthetic cycle-start readings, data-parallel style
(gradients averaged with mx.distributed.all_sum over however many ranks there
are - here just one), SGD with Nesterov momentum, early stopping that restores
the best validation weights.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s dryer: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("dryer")

group = mx.distributed.init()
rank, world = group.rank(), group.size()

rng = np.random.default_rng(11 + rank)


def make_loads(n):
    kg = rng.uniform(2.0, 9.0, n)             # load weight
    cotton = rng.uniform(0.0, 1.0, n)         # cotton share
    spin = rng.uniform(600, 1600, n)          # wash spin rpm
    minutes = rng.uniform(20, 70, n)          # cycle length bought
    heat = rng.integers(0, 3, n).astype(float)  # low / med / high
    humid = rng.uniform(30, 90, n)            # room humidity %
    water = kg * (0.4 + 0.5 * cotton) * (1700 - spin) / 1000.0
    evap = minutes * (0.025 + 0.015 * heat) * (1.2 - humid / 150.0)
    logit = 3.0 * (evap - water) + rng.logistic(0, 0.6, n)
    y = (logit > 0).astype(np.float32)
    flip = rng.random(n) < 0.08                # attendant mislabels
    y[flip] = 1 - y[flip]
    X = np.stack([kg, cotton, spin / 1000, minutes / 60, heat, humid / 100], 1).astype(np.float32)
    return X, y


Xtr, ytr = make_loads(960)
Xva, yva = make_loads(600)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class DryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x))))).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def auc(scores, y):
    ranks = mx.argsort(mx.argsort(scores)).astype(mx.float32) + 1
    P = y.sum()
    N = y.size - P
    return ((ranks * y).sum() - P * (P + 1) / 2) / (P * N)


mx.random.seed(0)
model = DryNet()
opt = optim.SGD(learning_rate=0.004, momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, bce)

base_p = ytr.mean()
base_brier = mx.mean((base_p - yva) ** 2).item()
log.info("rank %d/%d  train %d  valid %d  dry-rate %.1f%%  baseline brier %.4f",
         rank, world, ytr.size, yva.size, 100 * base_p.item(), base_brier)

best, best_epoch, patience, bad = math.inf, -1, 25, 0
best_params = None
t0 = time.time()
for epoch in range(1, 301):
    perm = mx.random.permutation(ytr.size)
    tot = 0.0
    for s in range(0, ytr.size, 16):
        idx = perm[s:s + 16]
        loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.size
    logits = model(Xva)
    p = mx.sigmoid(logits)
    vloss = nn.losses.binary_cross_entropy(logits, yva, with_logits=True, reduction="mean").item()
    brier = mx.mean((p - yva) ** 2).item()
    a = auc(logits, yva).item()
    if vloss < best - 1e-4:
        best, best_epoch, bad = vloss, epoch, 0
        best_params = model.parameters()
    else:
        bad += 1
    if epoch % 5 == 0 or bad == 0 and epoch < 5:
        log.info("epoch %03d  train bce %.4f  val bce %.4f  brier %.4f (base %.4f)  auc %.1f%%  wait %d/%d",
                 epoch, tot / ytr.size, vloss, brier, base_brier, 100 * a, bad, patience)
    if bad >= patience:
        log.info("stop at epoch %d: val bce has not improved since epoch %d (%.4f)", epoch, best_epoch, best)
        break

model.update(best_params)
mx.eval(model.parameters())
logits = model(Xva)
p = mx.sigmoid(logits)
log.info("restored epoch %d: val bce %.4f  brier %.4f  auc %.1f%%  acc %.1f%%  (%.1fs)",
         best_epoch,
         nn.losses.binary_cross_entropy(logits, yva, with_logits=True, reduction="mean").item(),
         mx.mean((p - yva) ** 2).item(), 100 * auc(logits, yva).item(),
         100 * mx.mean((p > 0.5) == (yva > 0.5)).item(), time.time() - t0)
