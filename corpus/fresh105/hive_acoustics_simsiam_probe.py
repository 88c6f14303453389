"""Self-supervised SimSiam pre-training on beehive sound spectra, then a
frozen-encoder linear probe.  Hive states: queenright / queenless / pre-swarm.

SimSiam loss is the symmetrised negative cosine similarity, so it runs from ~0
towards -1 (lower is better).  LR warms up linearly from 0.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hive")

N_BINS = 24
rng = np.random.default_rng(7)


def make_hive_spectra(n):
    """Synthetic 24-bin log spectra: a colony hum peak whose centre / width and a
    'piping' harmonic depend on the hive state."""
    y = rng.integers(0, 3, size=n)
    bins = np.arange(N_BINS)[None, :]
    centre = np.array([8.0, 11.0, 6.5])[y][:, None] + rng.normal(0, 0.6, (n, 1))
    width = np.array([2.0, 3.5, 1.6])[y][:, None]
    hum = np.exp(-0.5 * ((bins - centre) / width) ** 2)
    piping = (y == 2)[:, None] * 0.7 * np.exp(-0.5 * ((bins - 2 * centre) / 1.2) ** 2)
    x = np.log1p(3.0 * (hum + piping) + rng.gamma(2.0, 0.05, (n, N_BINS)))
    return x.astype(np.float32), y


def augment(xb):
    """Random gain, a +-1 bin roll (microphone placement), and hiss."""
    n = xb.shape[0]
    gain = rng.uniform(0.8, 1.2, (n, 1))
    shift = rng.integers(-1, 2, size=n)
    out = np.stack([np.roll(r, s) for r, s in zip(xb, shift)])
    out = out * gain + rng.normal(0, 0.05, out.shape)
    return mx.array(out.astype(np.float32))


class SimSiam(nn.Module):
    def __init__(self, d_in=N_BINS, hidden=64, dim=32, pred_hidden=16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm(hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU())
        self.projector = nn.Sequential(nn.Linear(hidden, dim), nn.BatchNorm(dim))
        self.predictor = nn.Sequential(nn.Linear(dim, pred_hidden), nn.BatchNorm(pred_hidden),
                                       nn.ReLU(), nn.Linear(pred_hidden, dim))

    def __call__(self, x):
        z = self.projector(self.encoder(x))
        return z, self.predictor(z)


def neg_cos(p, z):
    z = mx.stop_gradient(z)  # the SimSiam stop-gradient branch
    p = p / mx.linalg.norm(p, axis=-1, keepdims=True)
    z = z / mx.linalg.norm(z, axis=-1, keepdims=True)
    return -(p * z).sum(axis=-1).mean()


def simsiam_loss(model, x1, x2):
    z1, p1 = model(x1)
    z2, p2 = model(x2)
    return 0.5 * neg_cos(p1, z2) + 0.5 * neg_cos(p2, z1)


def main():
    t0 = time.time()
    x_unlab, _ = make_hive_spectra(6000)
    x_lab, y_lab = make_hive_spectra(600)
    x_test, y_test = make_hive_spectra(1500)
    mu, sd = x_unlab.mean(0), x_unlab.std(0) + 1e-6
    x_unlab, x_lab, x_test = [(a - mu) / sd for a in (x_unlab, x_lab, x_test)]

    mx.random.seed(0)
    model = SimSiam()
    epochs, bs = 12, 128
    steps_per_epoch = len(x_unlab) // bs
    total = epochs * steps_per_epoch
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, simsiam_loss)

    # sanity check on the very first batch: every leaf must receive gradient
    xb = x_unlab[:bs]
    _, g0 = vg(model, augment(xb), augment(xb))
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    log.info("first-batch gradient check: %d leaves, %d with all-zero grad %s",
             len(tree_flatten(g0)), len(dead), dead)

    step = 0
    for ep in range(epochs):
        perm = rng.permutation(len(x_unlab))
        run = 0.0
        for i in range(steps_per_epoch):
            xb = x_unlab[perm[i * bs:(i + 1) * bs]]
            loss, grads = vg(model, augment(xb), augment(xb))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        # collapse monitor: per-dim std of l2-normalised z (~1/sqrt(dim) if healthy, 0 if collapsed)
        model.eval()
        z, _ = model(mx.array(x_test[:512]))
        model.train()
        zn = z / mx.linalg.norm(z, axis=-1, keepdims=True)
        zstd = mx.std(zn, axis=0).mean().item()
        log.info("pretrain epoch=%02d neg_cosine=%.4f (lower is better, floor -1) lr=%.2e z_std=%.3f (healthy~%.3f)",
                 ep + 1, run / steps_per_epoch, opt.learning_rate.item(), zstd,
                 1 / math.sqrt(zn.shape[1]))

    # ---- linear probe on the frozen encoder ----
    model.eval()
    model.freeze()
    probe = nn.Linear(64, 3)
    popt = optim.SGD(learning_rate=0.1, momentum=0.9)

    feats_lab = model.encoder(mx.array(x_lab))
    feats_test = model.encoder(mx.array(x_test))
    mx.eval(feats_lab, feats_test)
    ylab, ytest = mx.array(y_lab), mx.array(y_test)

    def probe_loss(p, f, y):
        return nn.losses.cross_entropy(p(f), y, reduction="mean")

    pvg = nn.value_and_grad(probe, probe_loss)
    for it in range(1, 301):
        l, g = pvg(probe, feats_lab, ylab)
        popt.update(probe, g)
        mx.eval(probe.parameters(), popt.state, l)
        if it % 75 == 0:
            acc = (mx.argmax(probe(feats_test), axis=1) == ytest).mean().item()
            log.info("probe iter=%03d ce=%.4f test_acc=%.1f%%", it, l.item(), 100 * acc)

    enc_trainable = len(tree_flatten(model.trainable_parameters()))
    log.info("done in %.1fs (encoder trainable leaves during probe: %d)", time.time() - t0,
             enc_trainable)


if __name__ == "__main__":
    main()
