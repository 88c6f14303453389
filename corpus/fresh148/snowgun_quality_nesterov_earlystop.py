"""Ski-resort snowmaking: classify the snow a fan gun will make
(0 powder, 1 packed, 2 wet, 3 icy) from the gun's sensor panel.

Only a few hundred labelled nights exist, so the network overfits after a while;
training stops when validation cross-entropy has not improved for a few epochs
and the best weights are put back before the test report.
"""
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("snowgun")

rng = np.random.default_rng(4148)
mx.random.seed(4148)


def nights(n):
    wet_bulb = rng.normal(-4.0, 3.0, n)          # deg C
    water = rng.uniform(2.0, 12.0, n)            # L/s
    air_bar = rng.uniform(4.0, 9.0, n)           # compressor pressure
    nozzles = rng.integers(12, 49, n).astype(float)
    wind = rng.gamma(2.0, 1.5, n)                # m/s
    humid = rng.uniform(40, 100, n)              # %
    moist = 0.55 * wet_bulb + 0.25 * water - 0.35 * air_bar + 0.02 * humid - 0.015 * nozzles
    ice = 0.3 * wind - 0.4 * wet_bulb - 0.2 * air_bar + 0.01 * nozzles
    logits = np.stack([-moist - 0.5 * ice, 0.4 - 0.2 * np.abs(moist), moist - 0.3, ice - 2.5], 1) * 3.5
    g = rng.gumbel(size=logits.shape)
    y = np.argmax(logits + g, 1)
    x = np.stack([wet_bulb, water, air_bar, nozzles, wind, humid], 1)
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = nights(1500)
x_va, y_va = nights(600)
x_te, y_te = nights(2000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va, x_te = [(a - mu) / sd for a in (x_tr, x_va, x_te)]
log.info("class share train %s", np.round(np.bincount(y_tr, minlength=4) / len(y_tr), 2).tolist())

model = nn.Sequential(nn.Linear(6, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 4))
mx.eval(model.parameters())

steps_per_epoch = 1500 // 24 + 1
warm = 3 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.03, warm), optim.cosine_decay(0.03, 120 * steps_per_epoch, 0.003)], [warm])
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)


def ce(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, ce)(model, xb, yb)
    opt.update(model, grads)
    return loss


def metrics(xs, ys):
    logits = model(mx.array(xs))
    loss = nn.losses.cross_entropy(logits, mx.array(ys), reduction="mean").item()
    acc = (mx.argmax(logits, 1) == mx.array(ys)).astype(mx.float32).mean().item()
    return loss, acc


_, g = nn.value_and_grad(model, ce)(model, mx.array(x_tr[:48]), mx.array(y_tr[:48]))
log.info("grad check: %s", ", ".join(f"{k}={mx.abs(v).max().item():.2e}" for k, v in tree_flatten(g)))

best, best_ep, best_params, patience, wait = float("inf"), -1, None, 10, 0
log.info("warmup: lr at update 0 = %.4f, reaches %.4f at update %d", schedule(0).item(), schedule(warm).item(), warm)
for ep in range(1, 121):
    perm = rng.permutation(len(x_tr))
    tot = 0.0
    for i in range(0, len(perm), 24):
        b = perm[i:i + 24]
        loss = train_step(mx.array(x_tr[b]), mx.array(y_tr[b]))
        mx.eval(loss, model.state, opt.state)
        tot += loss.item() * len(b)
    va_loss, va_acc = metrics(x_va, y_va)
    lr = opt.learning_rate.item()
    log.info("ep=%03d lr=%.4f train_ce=%.4f val_ce=%.4f val_acc=%.3f", ep, lr, tot / len(x_tr), va_loss, va_acc)
    if va_loss < best - 1e-4:
        best, best_ep, wait = va_loss, ep, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
    else:
        wait += 1
        if wait >= patience:
            log.info("no val improvement for %d epochs, stopping at ep=%03d", patience, ep)
            break

last_loss, last_acc = metrics(x_te, y_te)
model.update(best_params)
mx.eval(model.parameters())
te_loss, te_acc = metrics(x_te, y_te)
log.info("restored ep=%03d (val_ce=%.4f); test ce %.4f -> %.4f, acc %.3f -> %.3f (majority %.3f)",
         best_ep, best, last_loss, te_loss, last_acc, te_acc, np.bincount(y_te).max() / len(y_te))
