"""Acoustic monitoring of a suspension-bridge main cable.

Sensors on the cable pick up transient events; a few are wire breaks, the rest
are rain drops, traffic knocks and hanger rattles. We simulate the raw 256-sample
waveforms, turn them into 16 log band energies + 4 shape features (this data prep
is the slow, silent part), then train a small classifier.

Training: AdamW under a warm-up that starts at lr 0, a compiled step with the
model and optimizer state as inputs/outputs, bias-corrected EMA of the loss,
early stopping on validation average precision that restores the best weights.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("cable-ae")

SR = 256
N_EVENTS = 16000
POS_RATE = 0.06


def simulate_events(n, seed=11):
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    kind = rng.choice(4, size=n, p=[POS_RATE, 0.44, 0.32, 0.18])  # 0 = wire break
    waves = np.empty((n, SR), np.float32)
    for i in range(n):
        onset = rng.uniform(0.05, 0.3)
        env = np.where(t >= onset, 1.0, 0.0)
        k = kind[i]
        if k == 0:    # wire break: sharp, broadband, slow ring-down at a cable mode
            f0 = rng.uniform(40, 70)
            sig = env * np.exp(-(t - onset) * rng.uniform(4, 9)) * (
                np.sin(2 * np.pi * f0 * t) + 0.8 * rng.normal(size=SR))
            amp = rng.lognormal(0.3, 0.5)
        elif k == 1:  # rain drop: very short click, high band
            sig = env * np.exp(-(t - onset) * 60) * rng.normal(size=SR)
            amp = rng.lognormal(-0.2, 0.6)
        elif k == 2:  # traffic knock: low-frequency thump
            f0 = rng.uniform(6, 18)
            sig = env * np.exp(-(t - onset) * rng.uniform(6, 14)) * np.sin(2 * np.pi * f0 * t)
            amp = rng.lognormal(0.4, 0.5)
        else:         # hanger rattle: repeated clicks at a mid band
            f0 = rng.uniform(25, 50)
            rate = rng.uniform(6, 12)
            sig = env * (np.sin(2 * np.pi * rate * t) > 0.6) * np.sin(2 * np.pi * f0 * t)
            amp = rng.lognormal(-0.1, 0.5)
        waves[i] = amp * sig + 0.35 * rng.normal(size=SR)
    return waves, (kind == 0).astype(np.float32)


def features(waves):
    spec = np.abs(np.fft.rfft(waves, axis=1)) ** 2
    bands = np.array_split(spec[:, 1:], 16, axis=1)
    logE = np.log(np.stack([b.sum(1) for b in bands], 1) + 1e-3)
    energy = (waves ** 2).cumsum(1)
    tot = energy[:, -1:]
    t10 = (energy < 0.1 * tot).sum(1) / SR
    t90 = (energy < 0.9 * tot).sum(1) / SR
    kurt = ((waves - waves.mean(1, keepdims=True)) ** 4).mean(1) / (waves.var(1) ** 2)
    peak = np.log(np.abs(waves).max(1) / np.sqrt(waves.var(1)))
    return np.concatenate([logE, np.stack([t90 - t10, t10, np.log(kurt), peak], 1)],
                          1).astype(np.float32)


def average_precision(scores, labels):
    order = np.argsort(-scores)
    l = labels[order]
    tp = np.cumsum(l)
    prec = tp / np.arange(1, len(l) + 1)
    return float((prec * l).sum() / max(l.sum(), 1))


class EventNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(),
                                  nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def bce(model, x, y, pos_weight):
    z = model(x)
    # weighted BCE-with-logits: positives count pos_weight times
    l = pos_weight * y * nn.softplus(-z) + (1 - y) * nn.softplus(z)
    return l.mean()


def main():
    t0 = time.perf_counter()
    waves, y = simulate_events(N_EVENTS)
    X = features(waves)
    n_tr, n_va = 10000, 3000
    mu, sd = X[:n_tr].mean(0), X[:n_tr].std(0) + 1e-6
    X = (X - mu) / sd
    Xtr, ytr = mx.array(X[:n_tr]), mx.array(y[:n_tr])
    Xva, yva = mx.array(X[n_tr:n_tr + n_va]), y[n_tr:n_tr + n_va]
    Xte, yte = mx.array(X[n_tr + n_va:]), y[n_tr + n_va:]
    log.info("data prep done: %d events, %d features, %.1f%% wire breaks, %.1fs",
             N_EVENTS, X.shape[1], 100 * y.mean(), time.perf_counter() - t0)

    mx.random.seed(5)
    model = EventNet(X.shape[1])
    batch, epochs = 100, 25
    steps_per_epoch = n_tr // batch
    warm = steps_per_epoch  # one epoch of warm-up from exactly 0
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, epochs * steps_per_epoch - warm, 1e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    pos_weight = mx.array(float((1 - y[:n_tr].mean()) / y[:n_tr].mean()) ** 0.5)

    # eager gradient check on the first batch (lr is 0 at step 0 anyway)
    _, g0 = nn.value_and_grad(model, bce)(model, Xtr[:batch], ytr[:batch], pos_weight)
    leaves = tree_flatten(g0)
    bad = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    log.info("gradient check: %d leaves, zero: %s", len(leaves), bad or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, yb):
        loss, grads = nn.value_and_grad(model, bce)(model, x, yb, pos_weight)
        opt.update(model, grads)
        return loss

    def val_ap():
        return average_precision(np.array(model(Xva)), yva)

    ema, beta, k = 0.0, 0.95, 0
    best_ap, best_epoch, best_w, patience, bad_epochs = -1.0, 0, None, 5, 0
    rng = np.random.default_rng(0)
    log.info("%5s %9s %10s %8s %8s %6s", "epoch", "lr", "loss(ema)", "val_AP", "best", "secs")
    for epoch in range(1, epochs + 1):
        te = time.perf_counter()
        perm = mx.array(rng.permutation(n_tr))
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(loss, state)
            k += 1
            ema = beta * ema + (1 - beta) * loss.item()
        ap = val_ap()
        if ap > best_ap:
            best_ap, best_epoch, bad_epochs = ap, epoch, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad_epochs += 1
        log.info("%5d %9.2e %10.4f %7.2f%% %7.2f%% %6.2f", epoch, opt.learning_rate.item(),
                 ema / (1 - beta ** k), 100 * ap, 100 * best_ap, time.perf_counter() - te)
        if bad_epochs >= patience:
            log.info("early stop: no val AP gain for %d epochs", patience)
            break

    model.update(best_w)
    mx.eval(model.parameters())
    log.info("restored epoch %d weights, val AP %.2f%% (check %.2f%%)",
             best_epoch, 100 * best_ap, 100 * val_ap())
    s = np.array(model(Xte))
    thr = np.quantile(s[yte == 0], 0.99)
    recall = 100 * float((s[yte == 1] > thr).mean())
    log.info("test AP %.2f%% | recall at 1%% false alarms %.1f%% | prior %.2f%%",
             100 * average_precision(s, yte), recall, 100 * yte.mean())


if __name__ == "__main__":
    main()
