"""Centrifugal-pump fault state from 12 vibration band levels (engine-room log).

First an LR range test (exponential sweep, stops once the smoothed loss blows
past 4x its best), then a fresh network is trained with lr = best_lr / 10,
SGD + Nesterov momentum and a cosine schedule.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("pump")

STATES = ["healthy", "cavitation", "bearing_wear", "misalignment"]
N_BANDS = 12


def make_recordings(n, rng):
    """Synthetic 12-band vibration dB levels; each fault shifts a few bands."""
    shape = np.zeros((4, N_BANDS), dtype=np.float32)
    shape[1, 3:6] = 2.0       # cavitation: broadband mid-frequency noise
    shape[2, 7:10] = 1.8      # bearing wear: defect frequencies
    shape[2, 0:2] = -0.8
    shape[3, 9:12] = 1.5      # misalignment: 2x/3x running-speed harmonics
    shape[3, 4] = -1.2
    y = rng.integers(0, 4, size=n)
    base = rng.normal(0.0, 1.0, size=(n, 1)).astype(np.float32)  # pump load / overall level
    x = shape[y] + 0.6 * base + rng.normal(0.0, 1.0, size=(n, N_BANDS)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int32)


class PumpNet(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.layers = [nn.Linear(N_BANDS, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 4)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield perm[i:i + bs]


def accuracy(model, x, y, chunk=500):
    hits = 0
    for i in range(0, x.shape[0], chunk):
        pred = mx.argmax(model(x[i:i + chunk]), axis=1)
        hits += mx.sum(pred == y[i:i + chunk]).item()
    return 100.0 * hits / x.shape[0]


def lr_range_test(xtr, ytr, rng, lo=1e-4, hi=10.0, steps=200, bs=64):
    mx.random.seed(0)
    probe = PumpNet()
    mx.eval(probe.parameters())
    opt = optim.SGD(learning_rate=lo, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(probe, loss_fn)
    smooth, best, best_lr = 0.0, float("inf"), lo
    order = np.concatenate([rng.permutation(xtr.shape[0]) for _ in range(2)])
    for i in range(steps):
        lr = lo * (hi / lo) ** (i / (steps - 1))
        opt.learning_rate = lr
        idx = mx.array(order[i * bs:(i + 1) * bs])
        loss, grads = vg(probe, xtr[idx], ytr[idx])
        opt.update(probe, grads)
        mx.eval(probe.parameters(), opt.state, loss)
        lv = loss.item()
        smooth = 0.9 * smooth + 0.1 * lv
        s = smooth / (1 - 0.9 ** (i + 1))
        if i % 10 == 0:
            log.info("range test  step %3d  lr %.2e  smoothed loss %.4f", i, lr, s)
        if not math.isfinite(s) or s > 4 * best:
            log.info("range test stopped at step %d (lr %.2e): smoothed loss %.3g > 4x best %.4f",
                     i, lr, s, best)
            break
        if s < best:
            best, best_lr = s, lr
    return best_lr, best


def main():
    t0 = time.time()
    rng = np.random.default_rng(116)
    xtr_np, ytr_np = make_recordings(24000, rng)
    xva_np, yva_np = make_recordings(1500, rng)
    mu, sd = xtr_np.mean(0), xtr_np.std(0) + 1e-6
    xtr, ytr = mx.array((xtr_np - mu) / sd), mx.array(ytr_np)
    xva, yva = mx.array((xva_np - mu) / sd), mx.array(yva_np)
    log.info("vibration snapshots: %d train / %d val, class counts %s", xtr.shape[0], xva.shape[0],
             np.bincount(ytr_np, minlength=4).tolist())

    best_lr, best_loss = lr_range_test(xtr, ytr, rng)
    lr_max = min(best_lr / 10.0, 0.5)
    log.info("range test: best smoothed loss %.4f at lr %.2e -> training with peak lr %.2e",
             best_loss, best_lr, lr_max)

    # the real run starts from fresh weights
    mx.random.seed(1)
    model = PumpNet()
    mx.eval(model.parameters())
    epochs, bs = 14, 64
    steps_per_epoch = xtr.shape[0] // bs
    sched = optim.cosine_decay(lr_max, epochs * steps_per_epoch, end=lr_max * 0.02)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    log.info("%-5s %10s %12s %12s %10s", "epoch", "lr", "train_loss", "train_acc", "val_acc")
    log.info("%-5s %10s %12s %12s %10s", "init", "-", "-", "%.1f%%" % accuracy(model, xtr, ytr),
             "%.1f%%" % accuracy(model, xva, yva))
    first = True
    for ep in range(1, epochs + 1):
        tot, nb = 0.0, 0
        for b in batches(xtr.shape[0], bs, rng):
            idx = mx.array(b)
            loss, grads = vg(model, xtr[idx], ytr[idx])
            if first:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.max(mx.abs(g)).item() == 0.0]
                log.info("first step: %d gradient leaves, %d all-zero %s", len(flat), len(zero), zero)
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        log.info("%-5d %10.2e %12.4f %12s %10s", ep, opt.learning_rate.item(), tot / nb,
                 "%.1f%%" % accuracy(model, xtr, ytr), "%.1f%%" % accuracy(model, xva, yva))
    log.info("done in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
