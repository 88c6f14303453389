"""Orienteering club: predict a runner's leg split time from the course and the runner.

Leg minutes from straight-line distance, climb, runnability class (open / forest / green),
number of route choices, control visibility and the runner's 5k pace. Made-up physics-ish law
plus log-normal noise. Train on log-minutes with SGD+momentum under SGDR (cosine warm restarts:
the learning rate jumps back to its peak at each restart), keep the best weights by validation MAE and restore them at
the end (early stopping with patience counted in cycles).
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("legs")

RUNNABILITY = np.array([1.0, 1.35, 2.1])  # open, forest, green (slow)


def legs(n, rng):
    dist = rng.uniform(0.15, 1.8, n)                 # km
    climb = rng.gamma(2.0, 12.0, n)                  # m
    run = rng.integers(0, 3, n)
    choices = rng.integers(1, 5, n)
    vis = rng.uniform(0.0, 1.0, n)                   # 1 = control visible from afar
    pace = rng.uniform(3.4, 6.5, n)                  # runner min/km on road
    minutes = dist * pace * RUNNABILITY[run] * (1 + 0.1 * (choices - 1) ** 0.7) \
        + climb * 0.09 * pace / 4.5 + (1 - vis) * 0.6 * np.sqrt(dist) * RUNNABILITY[run]
    minutes *= np.exp(rng.normal(0, 0.06, n))
    X = np.column_stack([dist, np.log1p(climb), np.eye(3)[run], choices, vis, pace]).astype(np.float32)
    return X, np.log(minutes).astype(np.float32), minutes.astype(np.float32)


class LegNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.layers = [nn.Linear(d_in, 64), nn.Linear(64, 64), nn.Linear(64, 1)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.gelu(l(x))
        return self.layers[-1](x)[:, 0]


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.2, reduction="mean")


def sgdr(base, cycle, n_cycles, floor):
    parts = [optim.cosine_decay(base, cycle, floor) for _ in range(n_cycles)]
    return optim.join_schedules(parts, [cycle * (k + 1) for k in range(n_cycles - 1)])


def main():
    rng = np.random.default_rng(5)
    Xtr, ytr, _ = legs(12000, rng)
    Xva, yva, mva = legs(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    Xva_mx = mx.array(Xva)

    mx.random.seed(0)
    model = LegNet(Xtr.shape[1])
    bs, cycle_epochs = 64, 3
    spe = len(Xtr) // bs
    n_cycles = 6
    opt = optim.SGD(learning_rate=sgdr(0.05, cycle_epochs * spe, n_cycles, 5e-4), momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)

    _, g = vg(model, mx.array(Xtr[:bs]), mx.array(ytr[:bs]))
    flat = tree_flatten(g)
    log.info("gradient check: %d leaves, %d with all-zero gradient", len(flat),
             sum(float(mx.abs(v).sum()) == 0 for _, v in flat))
    log.info("guess-the-median baseline: val MAE %.2f min",
             float(np.mean(np.abs(np.median(np.exp(ytr)) - mva))))

    def val_mae():
        return float(np.mean(np.abs(np.exp(np.array(model(Xva_mx))) - mva)))

    best, best_w, best_cycle, patience = float("inf"), None, 0, 2
    ema, beta, k = 0.0, 0.98, 0
    t0 = time.time()
    for cyc in range(1, n_cycles + 1):
        for ep in range(cycle_epochs):
            perm = rng.permutation(len(Xtr))
            for i in range(spe):
                idx = perm[i * bs:(i + 1) * bs]
                loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                k += 1
                ema = beta * ema + (1 - beta) * loss.item()
                if k % 150 == 0:
                    log.info("step %5d  lr %.4f  huber(ema, bias-corrected) %.5f", k,
                             opt.learning_rate.item(), ema / (1 - beta ** k))
        mae = val_mae()
        tag = ""
        if mae < best:
            best, best_cycle, tag = mae, cyc, "  * new best, weights kept"
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        log.info("end of cycle %d (epoch %d): val MAE %.3f min%s", cyc, cyc * cycle_epochs, mae, tag)
        if cyc - best_cycle >= patience:
            log.info("no improvement for %d cycles: stopping early", patience)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    log.info("restored cycle-%d weights: val MAE %.3f min (%.1f s)", best_cycle, val_mae(), time.time() - t0)


if __name__ == "__main__":
    main()
