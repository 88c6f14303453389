"""Narwhal click-train embeddings: tell individual whales apart from their
echolocation click spectra with a contrastive (NT-Xent) objective.

Synthetic clicks: 12 whales, each with its own spectral peak/bandwidth/notch;
two augmented views per click. Stage 'calm' uses mild augmentation; stage
'ice' (harder: more noise, band dropout, gain jitter) starts at epoch 8, so the
loss jumps before it settles again. A fixed (frozen on purpose) pre-emphasis
filterbank sits in front of the trainable encoder. Compiled train step.
"""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("narwhal")

mx.random.seed(3)
BINS = 48
WHALES = 12
freqs = mx.linspace(0.0, 1.0, BINS)
centre = 0.25 + 0.5 * mx.random.uniform(shape=(WHALES,))
width = 0.05 + 0.08 * mx.random.uniform(shape=(WHALES,))
notch = 0.1 + 0.8 * mx.random.uniform(shape=(WHALES,))


def clicks(ids, key):
    k1, k2 = mx.random.split(key)
    c = centre[ids][:, None] + 0.02 * mx.random.normal(key=k1, shape=(ids.size, 1))
    spec = mx.exp(-((freqs[None] - c) ** 2) / (2 * width[ids][:, None] ** 2))
    spec = spec * (1.0 - 0.6 * mx.exp(-((freqs[None] - notch[ids][:, None]) ** 2) / 0.002))
    return mx.log(spec + 0.05) + 0.1 * mx.random.normal(key=k2, shape=spec.shape)


def augment(x, key, hard):
    k1, k2, k3 = mx.random.split(key, 3)
    noise = 0.45 if hard else 0.15
    drop = 0.25 if hard else 0.05
    gain = (0.6 if hard else 0.2) * mx.random.normal(key=k3, shape=(x.shape[0], 1))
    keep = mx.random.uniform(key=k2, shape=x.shape) > drop
    return mx.where(keep, x + gain + noise * mx.random.normal(key=k1, shape=x.shape), 0.0)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.prefilter = nn.Linear(BINS, BINS, bias=False)   # fixed filterbank
        w = mx.eye(BINS) - 0.5 * mx.eye(BINS, k=-1)
        self.prefilter.weight = w
        self.body = nn.Sequential(nn.Linear(BINS, 96), nn.LayerNorm(96), nn.GELU(), nn.Linear(96, 64))
        self.proj = nn.Sequential(nn.GELU(), nn.Linear(64, 32))

    def __call__(self, x):
        h = self.body(self.prefilter(x))
        z = self.proj(h)
        return z / (mx.linalg.norm(z, axis=-1, keepdims=True) + 1e-6), h


def nt_xent(model, a, b, tau):
    za, _ = model(a)
    zb, _ = model(b)
    z = mx.concatenate([za, zb], axis=0)
    n = za.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return nn.losses.cross_entropy(sim, target, reduction="mean")


model = Encoder()
model.prefilter.freeze()
mx.eval(model.parameters())
frozen_before = mx.array(model.prefilter.weight)
opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, nt_xent)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b, tau):
    loss, grads = loss_and_grad(model, a, b, tau)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm


def retrieval_top1(key):
    ids = mx.repeat(mx.arange(WHALES), 20)
    k1, k2 = mx.random.split(key)
    gallery, _ = model(clicks(ids, k1))
    query, _ = model(augment(clicks(ids, k2), mx.random.key(7), True))
    sim = query @ gallery.T
    hit = ids[mx.argmax(sim, axis=1)] == ids
    return 100.0 * hit.astype(mx.float32).mean().item()


EPOCHS, STEPS, B = 16, 30, 96
tau = mx.array(0.2)
log.info("stage=calm epochs=0-7 | stage=ice epochs=8-15 | top1 chance=%.1f%%", 100.0 / WHALES)
key = mx.random.key(11)
for epoch in range(EPOCHS):
    hard = epoch >= 8
    if epoch == 8:
        log.info("switching to stage=ice (harder augmentations)")
    tot = 0.0
    for s in range(STEPS):
        key, kd, ka, kb = mx.random.split(key, 4)
        ids = mx.random.randint(0, WHALES, (B,), key=kd)
        x = clicks(ids, kd)
        loss, gnorm = step(augment(x, ka, hard), augment(x, kb, hard), tau)
        mx.eval(loss, gnorm, model.parameters(), opt.state)
        tot += loss.item()
    top1 = retrieval_top1(mx.random.key(1000 + epoch))
    log.info("epoch %02d stage=%s ntxent=%.4f gnorm=%.3f top1=%.1f%%", epoch,
             "ice" if hard else "calm", tot / STEPS, gnorm.item(), top1)

drift = mx.abs(model.prefilter.weight - frozen_before).max().item()
pnorm = math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(model.trainable_parameters())))
log.info("audit: prefilter max|dW|=%.2e (frozen), trainable param L2=%.3f", drift, pnorm)
