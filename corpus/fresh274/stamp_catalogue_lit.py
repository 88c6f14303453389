"""Stamp catalogue: locked-image text tuning (LiT) in two stages.

Stage A trains a small image tower on 6x6 stamp motifs as a 12-way
classifier (quiet, one summary line).  The tower is then frozen on purpose
and a text tower is trained contrastively against its locked embeddings with
a constant temperature.  Stage B accumulates gradients over 4 micro-batches of
32 before each Adam step.  Losses are reported in bits.
"""

import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

MOTIFS = 12
VOCAB = 80
DIM = 24
TAU = 0.05
MICRO = 32
ACCUM = 4

rng = np.random.default_rng(2741)
mx.random.seed(2741)

protos = rng.normal(size=(MOTIFS, 36)).astype(np.float32)
motif_words = rng.choice(np.arange(10, VOCAB), size=(MOTIFS, 4), replace=False)
common = np.arange(1, 10)  # "stamp", "mint", "used", "perf", ...


def stamps(n):
    m = rng.integers(0, MOTIFS, size=n)
    x = protos[m] * rng.uniform(0.6, 1.4, size=(n, 1)) + 0.8 * rng.normal(size=(n, 36))
    t = np.zeros((n, 6), dtype=np.int32)
    for i, k in enumerate(m):
        w = list(rng.choice(motif_words[k], size=2, replace=False)) + list(rng.choice(common, size=4))
        t[i] = rng.permutation(w)
    return x.astype(np.float32), t, m


tr_x, tr_t, tr_m = stamps(8000)
va_x, va_t, va_m = stamps(768)


class ImageTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(36, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, DIM))

    def __call__(self, x):
        return self.body(x)


class TextTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, 64)
        self.pos = nn.Embedding(6, 64)
        self.out = nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, DIM))

    def __call__(self, t):
        h = self.tok(t) + self.pos(mx.arange(t.shape[1]))
        return self.out(h.mean(axis=1))


class Catalogue(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = ImageTower()
        self.cls_head = nn.Linear(DIM, MOTIFS)
        self.text = TextTower()


def unit(v):
    return v / mx.linalg.norm(v, axis=-1, keepdims=True)


def cls_loss(model, x, y):
    return nn.losses.cross_entropy(model.cls_head(model.image(x)), y, reduction="mean")


def lit_loss(model, x, t):
    a = unit(model.image(x))
    b = unit(model.text(t))
    logits = (a @ b.T) / TAU
    y = mx.arange(x.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, y, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, y, reduction="mean"))


def retrieval(model):
    a = unit(model.image(mx.array(va_x)))
    b = unit(model.text(mx.array(va_t)))
    top = np.array(mx.argmax(a @ b.T, axis=1))
    return 100.0 * float(np.mean(va_m[top] == va_m))


BITS = 1.0 / math.log(2.0)
model = Catalogue()
mx.eval(model.parameters())
t0 = time.time()

# ---- stage A: image tower as a classifier (quiet) -------------------------
opt_a = optim.Adam(learning_rate=3e-3)
model.text.freeze()
grad_a = nn.value_and_grad(model, cls_loss)
for it in range(400):
    idx = rng.integers(0, len(tr_x), size=128)
    loss, g = grad_a(model, mx.array(tr_x[idx]), mx.array(tr_m[idx]))
    opt_a.update(model, g)
    mx.eval(model.parameters(), opt_a.state, loss)
acc = mx.mean(mx.argmax(model.cls_head(model.image(mx.array(va_x))), axis=1) == mx.array(va_m)).item()
print(f"[A] 400 steps  ce {loss.item() * BITS:.3f} bits  val acc {100 * acc:5.1f}%  ({time.time() - t0:.1f}s)")

# ---- stage B: lock the image tower, tune the text tower --------------------
model.text.unfreeze()
model.image.freeze()
model.cls_head.freeze()
locked = {k: mx.array(v) for k, v in tree_flatten(model.image.parameters())}
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[B] trainable {n_train} of {n_all} params; constant tau {TAU}; "
      f"uniform in-batch loss = log2({MICRO}) = {math.log2(MICRO):.3f} bits")

opt_b = optim.Adam(learning_rate=optim.step_decay(2e-3, 0.5, 60))
grad_b = nn.value_and_grad(model, lit_loss)

idx = rng.integers(0, len(tr_x), size=MICRO)
_, g = grad_b(model, mx.array(tr_x[idx]), mx.array(tr_t[idx]))
flat = tree_flatten(g)
print(f"[B] grad leaves {len(flat)}: {', '.join(k for k, _ in flat)}; "
      f"zero: {[k for k, v in flat if float(mx.abs(v).max()) == 0.0]}")
print(f"[B] before tuning: R@1 {retrieval(model):5.1f}% (chance ~{100 / MOTIFS:.1f}%)")

fmt = "{tag:>3} {upd:>4} | lr {lr:.1e} | lit {loss:6.3f} bits | spread {spread:5.3f} | R@1 {r1:5.1f}% | {secs:5.1f}s"
for upd in range(1, 241):
    acc_g = None
    losses = []
    for _ in range(ACCUM):
        idx = rng.integers(0, len(tr_x), size=MICRO)
        loss, g = grad_b(model, mx.array(tr_x[idx]), mx.array(tr_t[idx]))
        acc_g = g if acc_g is None else tree_map(lambda p, q: p + q, acc_g, g)
        losses.append(loss)
    acc_g = tree_map(lambda p: p / ACCUM, acc_g)
    lr_now = opt_b.learning_rate.item()
    opt_b.update(model, acc_g)
    mx.eval(model.parameters(), opt_b.state, *losses)
    if upd in (1, 10, 30) or upd % 40 == 0:
        spread = float(np.std([l.item() for l in losses]))
        mean = float(np.mean([l.item() for l in losses])) * BITS
        sys.stdout.write(fmt.format(tag="[B]", upd=upd, lr=lr_now, loss=mean, spread=spread * BITS,
                                    r1=retrieval(model), secs=time.time() - t0) + "\n")

drift = max(float(mx.abs(v - locked[k]).max()) for k, v in tree_flatten(model.image.parameters()))
print(f"[B] done: image tower max change {drift:.1e}; final R@1 {retrieval(model):.1f}%; {time.time() - t0:.1f}s")
