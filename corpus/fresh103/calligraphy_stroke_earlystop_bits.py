"""Classify brush strokes of Chinese calligraphy from tablet traces.

Eight basic strokes (dot, horizontal, vertical, left-falling, right-falling,
rising, hook, turning), each captured as 12 resampled pen samples (x, y,
pressure). The labelled set is small, so we train with early stopping on the
validation cross-entropy (reported in bits per stroke) and roll the weights back
to the best epoch at the end.
"""
import logging
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("stroke-clf")

STROKES = ["dot", "heng", "shu", "pie", "na", "ti", "gou", "zhe"]
T = 12
rng = np.random.default_rng(8)


def template(kind, t):
    if kind == 0:   # dot: short diagonal press
        return 0.15 * t, -0.15 * t, 0.4 + 0.6 * np.sin(np.pi * t)
    if kind == 1:   # horizontal
        return t, 0.05 * t, 0.7 + 0.2 * np.cos(2 * np.pi * t)
    if kind == 2:   # vertical
        return 0.03 * t, -t, 0.8 - 0.3 * t
    if kind == 3:   # left-falling, curving and thinning
        return -0.7 * t**1.5, -t, 0.9 - 0.7 * t
    if kind == 4:   # right-falling, thickening at the foot
        return 0.8 * t, -0.8 * t, 0.4 + 0.6 * t**2
    if kind == 5:   # rising flick
        return 0.7 * t, 0.5 * t, 0.9 - 0.8 * t
    if kind == 6:   # vertical with a hook at the end
        x = np.where(t < 0.8, 0.0, -0.8 * (t - 0.8))
        y = np.where(t < 0.8, -t, -0.8 + 0.8 * (t - 0.8))
        return x, y, 0.8 - 0.5 * (t > 0.8)
    x = np.where(t < 0.5, 2 * t * 0.8, 0.8)   # turning: across then down
    y = np.where(t < 0.5, 0.0, -(t - 0.5) * 2 * 0.8)
    return x, y, 0.75 + 0.1 * np.sin(6 * t)


def sample(n):
    labels = rng.integers(0, len(STROKES), size=n)
    X = np.zeros((n, T, 3), dtype=np.float32)
    t = np.linspace(0.0, 1.0, T)
    for i, k in enumerate(labels):
        x, y, p = template(k, t)
        ang = rng.normal(0.0, 0.35)
        sc = rng.uniform(0.6, 1.4)
        xr = sc * (np.cos(ang) * x - np.sin(ang) * y)
        yr = sc * (np.sin(ang) * x + np.cos(ang) * y)
        X[i, :, 0] = xr + rng.normal(0, 0.08, T)
        X[i, :, 1] = yr + rng.normal(0, 0.08, T)
        X[i, :, 2] = np.clip(p + rng.normal(0, 0.15, T), 0.0, 1.0)
    flip = rng.random(n) < 0.10          # mislabelled strokes in the annotations
    labels = np.where(flip, rng.integers(0, len(STROKES), size=n), labels)
    X = X - X[:, :1, :] * np.array([1.0, 1.0, 0.0], dtype=np.float32)   # start at the origin
    return X.reshape(n, -1), labels.astype(np.int32)


Xtr, ytr = sample(480)
Xva, yva = sample(1200)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class StrokeNet(nn.Module):
    def __init__(self, d_in, width, n_cls):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.out = nn.Linear(width, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        h = nn.gelu(self.l3(h))
        return self.out(h)


mx.random.seed(8)
model = StrokeNet(3 * T, 256, len(STROKES))
mx.eval(model.parameters())

STEPS_PER_EPOCH = 480 // 32
opt = optim.SGD(
    learning_rate=optim.step_decay(0.08, 0.5, 25 * STEPS_PER_EPOCH),
    momentum=0.9,
    nesterov=True,
)
LN2 = math.log(2.0)


def nats(mdl, x, y):
    return nn.losses.cross_entropy(mdl(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, nats)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    logits = model(Xva)
    bits = nn.losses.cross_entropy(logits, yva, reduction="mean") / LN2
    acc = (mx.argmax(logits, axis=-1) == yva).mean()
    return bits.item(), 100.0 * acc.item()


MAX_EPOCHS, PATIENCE = 120, 8
best_bits, best_epoch, best_params, waited = float("inf"), -1, None, 0
bits0, acc0 = evaluate()
log.info("untrained   val_bits=%.3f  val_acc=%.1f%%  (chance = %.3f bits)", bits0, acc0, math.log2(len(STROKES)))

for epoch in range(1, MAX_EPOCHS + 1):
    perm = mx.array(rng.permutation(480))
    tot = 0.0
    for j in range(STEPS_PER_EPOCH):
        idx = perm[j * 32:(j + 1) * 32]
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        tot += loss.item()
    train_bits = tot / STEPS_PER_EPOCH / LN2
    val_bits, val_acc = evaluate()
    mark = ""
    if val_bits < best_bits - 1e-4:
        best_bits, best_epoch, waited = val_bits, epoch, 0
        best_params = tree_map(lambda a: a, model.parameters())
        mark = " *"
    else:
        waited += 1
    log.info("epoch %3d  train_bits=%.3f  val_bits=%.3f  val_acc=%.1f%%  lr=%.4f%s",
             epoch, train_bits, val_bits, val_acc, opt.learning_rate.item(), mark)
    if waited >= PATIENCE:
        log.info("no val improvement for %d epochs, stopping at epoch %d", PATIENCE, epoch)
        break

last_bits, last_acc = evaluate()
model.update(best_params)
mx.eval(model.parameters())
restored_bits, restored_acc = evaluate()
log.info("last epoch weights:      val_bits=%.3f  val_acc=%.1f%%", last_bits, last_acc)
log.info("restored epoch %d weights: val_bits=%.3f  val_acc=%.1f%%", best_epoch, restored_bits, restored_acc)
log.info("params: %d", sum(v.size for _, v in tree_flatten(model.parameters())))
