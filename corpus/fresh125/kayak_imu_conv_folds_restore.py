"""Sea-kayak paddle-shaft IMU: which stroke is this 1.2 s window?

4 strokes (forward / sweep / draw / low brace) from 4 channels
(gyro roll, gyro yaw, accel sway, accel heave) sampled at 40 Hz.
3-fold cross-validation, a fresh small 1-D conv net per fold, a compiled
SGD-Nesterov step, early stopping on the held-out fold with the best
weights put back before the fold is scored.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kayak")

rng = np.random.default_rng(77)
T, C, K = 48, 4, 4
STROKES = ["forward", "sweep", "draw", "brace"]


def window(kind):
    t = np.arange(T) / 40.0
    ph = rng.uniform(0, 2 * np.pi)
    amp = rng.uniform(0.6, 1.4)
    x = rng.normal(0, 0.55, (T, C))
    x += 0.3 * np.sin(2 * np.pi * 0.4 * t + rng.uniform(0, 6))[:, None]  # swell
    if kind == 0:    # forward: alternating L/R roll at ~1.3 Hz, heave bumps
        f = rng.uniform(1.1, 1.5)
        x[:, 0] += amp * np.sin(2 * np.pi * f * t + ph)
        x[:, 3] += 0.5 * amp * np.abs(np.sin(2 * np.pi * f * t + ph))
    elif kind == 1:  # sweep: one slow wide yaw arc
        c = rng.uniform(0.3, 0.9)
        x[:, 1] += 1.2 * amp * np.exp(-((t - c) / 0.25) ** 2)
        x[:, 0] += 0.35 * amp * np.sin(2 * np.pi * 0.8 * t + ph)
    elif kind == 2:  # draw: quick sideways sway pulses
        f = rng.uniform(1.8, 2.4)
        x[:, 2] += amp * np.clip(np.sin(2 * np.pi * f * t + ph), 0, None) * 1.3
    else:            # low brace: one sharp heave slap plus a roll dip
        c = rng.uniform(0.2, 1.0)
        x[:, 3] -= 1.6 * amp * np.exp(-((t - c) / 0.06) ** 2)
        x[:, 0] -= 0.7 * amp * np.exp(-((t - c - 0.1) / 0.15) ** 2)
    return x


N = 1500
labels = rng.integers(0, K, N)
X = np.stack([window(k) for k in labels]).astype(np.float32)
Y = labels.astype(np.int32)
folds = np.array_split(rng.permutation(N), 3)


class StrokeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(C, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(32, K)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.head(h.mean(axis=1))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    l = nn.losses.cross_entropy(logits, y, reduction="mean")
    err = mx.mean(mx.argmax(logits, axis=1) != y)
    mx.eval(l, err)
    return l.item(), 100.0 * err.item()


t0 = time.time()
fold_err = []
for f in range(3):
    va_idx = folds[f]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != f])
    xtr, ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    xva, yva = mx.array(X[va_idx]), mx.array(Y[va_idx])

    mx.random.seed(100 + f)
    model = StrokeNet()
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, xent)(model, x, y)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, bad = float("inf"), -1, None, 0
    for ep in range(1, 17):
        perm = rng.permutation(len(tr_idx))
        tot, nb = 0.0, 0
        for i in range(0, len(perm), 64):
            b = mx.array(perm[i:i + 64])
            loss = step(xtr[b], ytr[b])
            mx.eval(state)
            tot += loss.item()
            nb += 1
        vl, ve = evaluate(model, xva, yva)
        log.info("fold %d/3 epoch %02d | train_xent %.4f | val_xent %.4f | val_err %5.1f%%",
                 f + 1, ep, tot / nb, vl, ve)
        if vl < best - 1e-4:
            best, best_ep, bad = vl, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= 3:
                log.info("fold %d/3 early stop at epoch %d (no val gain for 3 epochs)", f + 1, ep)
                break
    model.update(best_w)
    vl, ve = evaluate(model, xva, yva)
    log.info("fold %d/3 restored epoch %d weights -> val_xent %.4f val_err %.1f%%",
             f + 1, best_ep, vl, ve)
    fold_err.append(ve)

log.info("CV stroke error %.1f%% +- %.1f (chance 75.0%%), %.1fs",
         np.mean(fold_err), np.std(fold_err), time.time() - t0)
