# Self-supervised embeddings for perfume accords from GC-MS-like chromatograms.
# 40 retention-time bins; each of 6 olfactory families (citrus, floral, woody,
# oriental, fougere, chypre) has its own set of marker peaks, every bottle mixes
# them at random strengths. SimCLR-style NT-Xent on two augmented views (retention
# drift, dilution, detector noise, dropped peaks), compiled step that threads the
# random state. One JSON object per log line; early stopping on the 1-NN family
# accuracy of a small labelled shelf, best weights restored at the end.
import json
import sys
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(5)
rng = np.random.default_rng(5)
BINS, FAMILIES = 40, 6
markers = [rng.choice(np.arange(4, BINS), 5, replace=False) for _ in range(FAMILIES)]


def bottles(n):
    fam = rng.integers(0, FAMILIES, n)
    x = np.abs(rng.normal(0.0, 0.08, (n, BINS)))
    for i, f in enumerate(fam):
        x[i, markers[f]] += rng.uniform(0.4, 1.0, 5)
        other = rng.integers(0, FAMILIES)
        x[i, markers[other]] += rng.uniform(0.0, 0.35, 5)   # a secondary facet
    x *= rng.uniform(0.5, 2.0, (n, 1))                     # concentration (EdT vs parfum)
    return x.astype(np.float32), fam


def nuisance(n):
    ramp = np.linspace(0.0, 1.0, BINS)[None, :] ** 2 * rng.uniform(0.0, 4.0, (n, 1))
    front = np.exp(-np.arange(BINS)[None, :] / 2.0) * rng.uniform(0.0, 6.0, (n, 1))
    return ramp + front


unlab, _ = bottles(3000)                 # deconvolved peak tables, no instrument artefacts
shelf_x, shelf_y = bottles(300)
query_x, query_y = bottles(300)
shelf_x += nuisance(300).astype(np.float32)   # labelled runs come straight off the instrument
query_x += nuisance(300).astype(np.float32)
unlab = mx.array(unlab)
shelf_x, query_x = mx.array(shelf_x), mx.array(query_x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(BINS, 96), nn.GELU(), nn.Linear(96, 32))
        self.head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 16))

    def embed(self, x):
        return self.body(x)

    def __call__(self, x):
        return self.head(self.body(x))


RAMP = mx.array(np.linspace(0.0, 1.0, BINS, dtype=np.float32) ** 2)
FRONT = mx.array(np.exp(-np.arange(BINS, dtype=np.float32) / 2.0))


def augment(x):
    n = x.shape[0]
    x = x + RAMP * mx.random.uniform(0.0, 4.0, (n, 1)) + FRONT * mx.random.uniform(0.0, 6.0, (n, 1))
    shift = mx.random.randint(-1, 2, (1,))[0]
    x = mx.where(shift == 0, x, mx.where(shift > 0, mx.roll(x, 1, axis=1), mx.roll(x, -1, axis=1)))
    x = x * mx.random.uniform(0.7, 1.3, (x.shape[0], 1))
    keep = mx.random.bernoulli(0.85, x.shape)
    return x * keep + 0.03 * mx.random.normal(x.shape)


def ntxent(model, a, b, tau=0.2):
    za = model(a)
    zb = model(b)
    z = mx.concatenate([za, zb], 0)
    z = z / mx.linalg.norm(z, axis=1, keepdims=True)
    n = za.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    loss = nn.losses.cross_entropy(sim, target, reduction="mean")
    pos = mx.mean(mx.sum(z[:n] * z[n:], axis=1))
    return loss, pos


model = Encoder()
mx.eval(model.parameters())
TOTAL = 900
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, TOTAL, 1e-4), weight_decay=1e-4)
vg = nn.value_and_grad(model, lambda m, a, b: ntxent(m, a, b)[0])
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(batch):
    a, b = augment(batch), augment(batch)
    loss, grads = vg(model, a, b)
    opt.update(model, grads)
    return loss


def knn_acc():
    s = model.embed(shelf_x)
    q = model.embed(query_x)
    s = s / mx.linalg.norm(s, axis=1, keepdims=True)
    q = q / mx.linalg.norm(q, axis=1, keepdims=True)
    nearest = np.array(mx.argmax(q @ s.T, axis=1))
    return float(np.mean(shelf_y[nearest] == query_y))


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")


# sanity: every trainable tensor gets a gradient on the first batch
_, g0 = vg(model, augment(unlab[:128]), augment(unlab[:128]))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
emit(event="grad_check", tensors=len(tree_flatten(g0)), zero_grad=dead)

best, best_step, best_params, patience, bad = knn_acc(), 0, None, 5, 0
emit(event="start", knn_1nn=round(best, 4), chance=round(1 / FAMILIES, 4), unlabelled=int(unlab.shape[0]))
best_params = tree_map(lambda p: mx.array(p), model.parameters())
for step in range(1, TOTAL + 1):
    idx = mx.array(rng.integers(0, unlab.shape[0], 128))
    loss = train_step(unlab[idx])
    mx.eval(state, loss)
    if step % 50 == 0:
        acc = knn_acc()
        _, pos = ntxent(model, augment(unlab[:256]), augment(unlab[:256]))
        emit(step=step, ntxent=round(loss.item(), 4), pos_cos=round(pos.item(), 3),
             knn_1nn=round(acc, 4), lr=float(opt.learning_rate))
        if acc > best + 1e-3:
            best, best_step, bad = acc, step, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
            if bad >= patience:
                emit(event="early_stop", step=step, best_step=best_step)
                break

model.update(best_params)
mx.eval(model.parameters())
emit(event="restored", best_step=best_step, knn_1nn=round(knn_acc(), 4), best=round(best, 4))
