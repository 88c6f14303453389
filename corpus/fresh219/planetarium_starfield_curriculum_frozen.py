"""Planetarium dome alignment: recognise which of 12 (made-up) constellation
templates a noisy projector star-field shows.  Each sample is a set of 10 stars
(x, y, magnitude) under a random rotation, jitter and star dropout.  A
DeepSets-style model (shared per-star MLP -> masked mean pool -> classifier)
is trained through a 3-stage curriculum that makes the fields harder each
stage; in the last stage the per-star encoder is frozen on purpose and only the
pooling head is fine-tuned.  Each stage gets a fresh SGD-Nesterov optimiser, a
warmup that starts at lr exactly 0, a stage-local step counter, and a compiled
step.  Output goes through the logging module."""
import logging
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s dome: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("dome")

rng = np.random.default_rng(11)
N_CONST, N_STARS = 12, 10
templates = rng.uniform(-1, 1, (N_CONST, N_STARS, 2)).astype(np.float32)
template_mag = rng.uniform(0.5, 4.5, (N_CONST, N_STARS)).astype(np.float32)


def sample_fields(n, jitter, max_rot, drop_p):
    labels = rng.integers(0, N_CONST, n)
    pts = templates[labels].copy()
    theta = rng.uniform(-max_rot, max_rot, n)
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # n,2,2
    pts = np.einsum("nij,nkj->nki", rot, pts) + rng.normal(0, jitter, pts.shape)
    mag = template_mag[labels] + rng.normal(0, 0.3, (n, N_STARS))
    keep = (rng.uniform(size=(n, N_STARS)) > drop_p).astype(np.float32)
    keep[:, 0] = 1.0  # brightest star of the template is always projected
    order = rng.permuted(np.tile(np.arange(N_STARS), (n, 1)), axis=1)  # star order is meaningless
    pts = np.take_along_axis(pts, order[..., None], 1)
    mag = np.take_along_axis(mag, order, 1)
    keep = np.take_along_axis(keep, order, 1)
    feats = np.concatenate([pts, (mag[..., None] - 2.5) / 1.2,
                            np.sqrt((pts ** 2).sum(-1, keepdims=True))], -1).astype(np.float32)
    return mx.array(feats), mx.array(keep), mx.array(labels.astype(np.int32))


class StarSetNet(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, d), nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, N_CONST))

    def __call__(self, feats, keep):
        h = self.encoder(feats) * keep[..., None]
        cnt = mx.maximum(keep.sum(1, keepdims=True), 1.0)
        mean = h.sum(1) / cnt
        mx_pool = (h - 1e4 * (1 - keep[..., None])).max(1)
        return self.head(mx.concatenate([mean, mx_pool], -1))


def loss_fn(model, feats, keep, y):
    return nn.losses.cross_entropy(model(feats, keep), y, reduction="mean")


def accuracy(model, feats, keep, y):
    return (mx.argmax(model(feats, keep), -1) == y).astype(mx.float32).mean()


STAGES = [  # name, jitter, max rotation (rad), star dropout, steps, peak lr
    ("clear-sky", 0.02, 0.2, 0.0, 160, 0.05),
    ("haze", 0.07, 1.0, 0.15, 200, 0.05),
    ("light-pollution", 0.12, math.pi, 0.30, 200, 0.02),
]
WARM = 25
BATCH = 96

mx.random.seed(5)
model = StarSetNet()
mx.eval(model.parameters())

t0 = time.time()
for si, (name, jit, rot, drop, steps, peak) in enumerate(STAGES, 1):
    if si == len(STAGES):
        model.encoder.freeze()
        log.info("stage %d: per-star encoder frozen on purpose, fine-tuning pooling head only", si)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(feats, keep, y, lr):
        opt.learning_rate = lr
        loss, grads = loss_and_grad(model, feats, keep, y)
        opt.update(model, grads)
        gnorm = mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads)))
        return loss, gnorm

    vf, vk, vy = sample_fields(1500, jit, rot, drop)
    acc0 = accuracy(model, vf, vk, vy).item() * 100
    log.info("[stage %d/3 %-15s] jitter=%.2f rot<=%.2frad drop=%.0f%% trainable=%d params  "
             "entry val_acc=%.1f%% (chance %.1f%%)", si, name, jit, rot, drop * 100, n_train,
             acc0, 100 / N_CONST)
    ema = None
    for step in range(1, steps + 1):
        lr = peak * min(1.0, (step - 1) / WARM) * (0.5 * (1 + math.cos(math.pi * max(0, step - WARM) / (steps - WARM + 1))))
        f, k, y = sample_fields(BATCH, jit, rot, drop)
        loss, gnorm = train_step(f, k, y, mx.array(lr, dtype=mx.float32))
        mx.eval(loss, gnorm, model.parameters(), opt.state)
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if step == 1 or step % 40 == 0 or step == steps:
            acc = accuracy(model, vf, vk, vy).item() * 100
            log.info("stage %d step %03d/%03d lr=%.4f xent=%.4f ema=%.4f |g|=%.3f val_acc=%.1f%%",
                     si, step, steps, lr, loss.item(), ema, gnorm.item(), acc)
    bar = "#" * 20
    log.info("stage %d |%s| %d/%d [%.1fs elapsed]", si, bar, steps, steps, time.time() - t0)

# final audit: which parameter groups moved in the last stage is by design
tf, tk, ty = sample_fields(3000, STAGES[-1][1], STAGES[-1][2], STAGES[-1][3])
easy_f, easy_k, easy_y = sample_fields(3000, STAGES[0][1], STAGES[0][2], STAGES[0][3])
acc_hard = accuracy(model, tf, tk, ty).item() * 100
acc_easy = accuracy(model, easy_f, easy_k, easy_y).item() * 100
log.info("final | hard-field acc %.1f%% | clear-sky acc %.1f%% | chance %.1f%% | wall %.1fs",
         acc_hard, acc_easy, 100 / N_CONST, time.time() - t0)
