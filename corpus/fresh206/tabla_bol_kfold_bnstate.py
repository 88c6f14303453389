"""Tabla stroke (bol) recogniser.

Synthetic 4 kHz recordings of five bols (Na, Tin, Ge, Ka, Dha) are classified by a
small Conv1d + BatchNorm network.  Three-fold cross validation: every fold builds a
fresh model, so the epoch counter and the loss start over.  The learning rate warms
up linearly from exactly 0 and then follows a cosine decay.  The train step is
compiled with the model / optimizer / RNG state captured.
"""
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tabla: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tabla")

SR = 4000          # Hz
N = 384            # samples per clip (96 ms)
BOLS = ["Na", "Tin", "Ge", "Ka", "Dha"]


def make_clip(rng, bol):
    t = np.arange(N) / SR
    onset = rng.integers(0, 24)
    tt = np.clip(t - onset / SR, 0, None)
    on = (np.arange(N) >= onset).astype(np.float32)
    dayan_f = rng.uniform(700, 820)          # tuned right drum
    bayan_f = rng.uniform(95, 130)           # left drum
    x = np.zeros(N)
    if bol in ("Na", "Dha"):
        decay = rng.uniform(18, 26)
        x += np.exp(-decay * tt) * (np.sin(2 * np.pi * dayan_f * tt)
                                    + 0.5 * np.sin(2 * np.pi * 2 * dayan_f * tt))
    if bol == "Tin":
        decay = rng.uniform(45, 60)
        x += np.exp(-decay * tt) * (np.sin(2 * np.pi * 1.5 * dayan_f * tt)
                                    + 0.4 * np.sin(2 * np.pi * 3 * dayan_f * tt))
    if bol in ("Ge", "Dha"):
        glide = bayan_f * (1 - 0.25 * np.minimum(tt * 10, 1))
        phase = 2 * np.pi * np.cumsum(glide) / SR
        x += 0.9 * np.exp(-rng.uniform(8, 12) * tt) * np.sin(phase)
    if bol == "Ka":
        x += np.exp(-rng.uniform(90, 130) * tt) * rng.normal(0, 1.0, N)
    x = x * on * rng.uniform(0.6, 1.4)
    x += rng.normal(0, 0.45, N)
    return x.astype(np.float32)


def make_dataset(n, seed=7):
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, len(BOLS), n)
    xs = np.stack([make_clip(rng, BOLS[y]) for y in ys])
    return xs[..., None], ys.astype(np.int32)


class BolNet(nn.Module):
    def __init__(self, n_cls=5):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, kernel_size=9, stride=2, padding=4)
        self.b1 = nn.BatchNorm(12)
        self.c2 = nn.Conv1d(12, 24, kernel_size=7, stride=2, padding=3)
        self.b2 = nn.BatchNorm(24)
        self.c3 = nn.Conv1d(24, 24, kernel_size=5, stride=2, padding=2)
        self.b3 = nn.BatchNorm(24)
        self.head = nn.Linear(48, n_cls)

    def __call__(self, x):
        h = nn.relu(self.b1(self.c1(x)))
        h = nn.relu(self.b2(self.c2(h)))
        h = nn.relu(self.b3(self.c3(h)))
        feat = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(feat)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def run_fold(fold, xtr, ytr, xva, yva, epochs=7, bs=64, peak_lr=4e-3):
    mx.random.seed(100 + fold)
    model = BolNet()
    steps_per_epoch = len(xtr) // bs
    warm = steps_per_epoch * 2
    total = steps_per_epoch * epochs
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, total - warm, 1e-4)], [warm])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.9)
    grad_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        return loss

    if fold == 0:
        model.train()
        _, g = grad_fn(model, mx.array(xtr[:bs]), mx.array(ytr[:bs]))
        from mlx.utils import tree_flatten
        dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad audit: %d tensors, %d with zero gradient %s",
                 len(tree_flatten(g)), len(dead), dead)

    rng = np.random.default_rng(fold)
    best = None
    for ep in range(1, epochs + 1):
        model.train()
        perm = rng.permutation(len(xtr))
        t0 = time.perf_counter()
        run, nb = 0.0, 0
        lr_start = float(opt.learning_rate) if ep > 1 else 0.0
        for i in range(0, steps_per_epoch * bs, bs):
            idx = perm[i:i + bs]
            loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
            mx.eval(loss, model.parameters(), opt.state)
            run += float(loss)
            nb += 1
        ms = (time.perf_counter() - t0) * 1000
        model.eval()
        logits = model(mx.array(xva))
        vloss = float(nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean"))
        acc = float((mx.argmax(logits, axis=1) == mx.array(yva)).mean()) * 100
        best = acc if best is None else max(best, acc)
        log.info("fold %d/3 epoch %02d/%d lr %.2e->%.2e train_ce %.4f val_ce %.4f "
                 "val_acc %5.1f%% (%.0f ms)", fold + 1, ep, epochs, lr_start,
                 float(opt.learning_rate), run / nb, vloss, acc, ms)
    rm = float(mx.abs(model.b1.running_mean).mean())
    log.info("fold %d done: best val_acc %.1f%%, bn1 |running_mean| %.4f", fold + 1, best, rm)
    return acc


def main():
    xs, ys = make_dataset(960)
    counts = np.bincount(ys, minlength=5)
    majority = counts.max() / len(ys) * 100
    log.info("clips %d x %d samples @ %d Hz (%.0f ms); class counts %s; majority baseline %.1f%%",
             len(xs), N, SR, N / SR * 1000, counts.tolist(), majority)
    folds = np.array_split(np.arange(len(xs)), 3)
    accs = []
    for f in range(3):
        va = folds[f]
        tr = np.concatenate([folds[j] for j in range(3) if j != f])
        accs.append(run_fold(f, xs[tr], ys[tr], xs[va], ys[va]))
    log.info("cross-val accuracy %.1f%% +- %.1f (chance 20.0%%, majority %.1f%%)",
             np.mean(accs), np.std(accs), majority)


if __name__ == "__main__":
    main()
