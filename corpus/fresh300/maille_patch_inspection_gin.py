"""Armourer's bench: flag chainmail patches that will unravel.

Each patch is a grid of rings (3-5 rows x 4-6 columns) joined by links; some
links were never closed. Inspectors flag a patch as 'loose' when a ring hangs
on at most one link next to a ring held by at most two (about 5% of the
inspection labels are mistaken). The ring metal and wire gauge are recorded
but play no part. A GIN-style network reads whole patches, many patches per
batch, pooled per patch with a segment sum.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(21)


def make_patch(r):
    R, C = int(r.integers(3, 6)), int(r.integers(4, 7))
    p_open = r.uniform(0.10, 0.25)
    n = R * C
    links = []
    for i in range(R):
        for j in range(C):
            u = i * C + j
            if j + 1 < C and r.random() > p_open:
                links.append((u, u + 1))
            if i + 1 < R and r.random() > p_open:
                links.append((u, u + C))
    links = np.array(links, dtype=np.int64).reshape(-1, 2)
    deg = np.bincount(links.ravel(), minlength=n)
    loose = False
    for a, b in links:
        if (deg[a] <= 1 and deg[b] <= 2) or (deg[b] <= 1 and deg[a] <= 2):
            loose = True
            break
    if not loose:
        loose = bool((deg == 0).any())
    metal = np.eye(3)[r.integers(0, 3, n)]
    gauge = r.normal(0, 1, (n, 1))
    feats = np.concatenate([np.ones((n, 1)), metal, gauge], 1).astype(np.float32)
    label = int(loose) if r.random() > 0.05 else 1 - int(loose)
    return feats, links, label


def make_set(k, r):
    return [make_patch(r) for _ in range(k)]


def collate(patches):
    feats, src, dst, gid = [], [], [], []
    off = 0
    for g, (f, e, _) in enumerate(patches):
        feats.append(f)
        src += [e[:, 0] + off, e[:, 1] + off]
        dst += [e[:, 1] + off, e[:, 0] + off]
        gid.append(np.full(len(f), g))
        off += len(f)
    y = np.array([p[2] for p in patches])
    return (mx.array(np.concatenate(feats)), mx.array(np.concatenate(src)),
            mx.array(np.concatenate(dst)), mx.array(np.concatenate(gid)), len(patches), mx.array(y))


train_set, val_set, test_set = make_set(3000, rng), make_set(800, rng), make_set(800, rng)
VAL, TEST = collate(val_set), collate(test_set)
prior = np.mean([p[2] for p in train_set])
majority_err = 100 * min(np.mean([p[2] for p in test_set]), 1 - np.mean([p[2] for p in test_set]))
print(f"patches train/val/test = {len(train_set)}/{len(val_set)}/{len(test_set)}  loose share {prior:.3f}")


class GINRound(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.eps = mx.zeros((1,))
        self.mlp = nn.Sequential(nn.Linear(din, dout), nn.ReLU(), nn.Linear(dout, dout))
        self.norm = nn.LayerNorm(dout)

    def __call__(self, h, src, dst):
        nbr = mx.zeros(h.shape).at[dst].add(h[src])
        return nn.relu(self.norm(self.mlp((1 + self.eps) * h + nbr)))


class PatchInspector(nn.Module):
    def __init__(self, din=5, hid=32, rounds=3):
        super().__init__()
        dims = [din] + [hid] * rounds
        self.rounds = [GINRound(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.head = nn.Sequential(nn.Linear(hid * rounds, hid), nn.ReLU(), nn.Linear(hid, 2))

    def __call__(self, x, src, dst, gid, n_graphs):
        h, pooled = x, []
        for rd in self.rounds:
            h = rd(h, src, dst)
            pooled.append(mx.zeros((n_graphs, h.shape[1])).at[gid].add(h))
        return self.head(mx.concatenate(pooled, axis=1) / 10.0)


def loss_fn(model, x, src, dst, gid, n, y):
    logits = model(x, src, dst, gid, n)
    return mx.mean(nn.losses.cross_entropy(logits, y, label_smoothing=0.1))


def measure(model, batch):
    x, src, dst, gid, n, y = batch
    logits = model(x, src, dst, gid, n)
    ce = mx.mean(nn.losses.cross_entropy(logits, y, label_smoothing=0.1)).item()
    err = 100 * mx.mean(mx.argmax(logits, axis=1) != y).item()
    return ce, err


mx.random.seed(5)
model = PatchInspector()
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4)
lg = nn.value_and_grad(model, loss_fn)

BATCH, EPOCHS = 100, 10
best, since_best = float("inf"), 0
t0 = time.time()
ce0, err0 = measure(model, VAL)
print(f"before training: val_ce {ce0:.4f}  val_err {err0:.1f}%   majority-guess err {majority_err:.1f}%")
for ep in range(1, EPOCHS + 1):
    order = rng.permutation(len(train_set))
    tot, nb = 0.0, 0
    for b in range(0, len(order) - BATCH + 1, BATCH):
        x, src, dst, gid, n, y = collate([train_set[i] for i in order[b:b + BATCH]])
        loss, g = lg(model, x, src, dst, gid, n, y)
        g, gnorm = optim.clip_grad_norm(g, max_norm=2.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if ep == 1 and b == 0:
            flat = tree_flatten(g)
            print(f"first step: {len(flat)} gradient arrays, "
                  f"{sum(float(mx.abs(v).max()) > 0 for _, v in flat)} non-zero")
        tot += loss.item()
        nb += 1
    vce, verr = measure(model, VAL)
    mark = ""
    if vce < best - 1e-3:
        best, since_best, mark = vce, 0, " +"
    else:
        since_best += 1
        if since_best >= 2:
            opt.learning_rate = opt.learning_rate * 0.5
            since_best = 0
            mark = f" lr -> {opt.learning_rate.item():.4f}"
    print(f"epoch {ep:2d}  train_ce {tot / nb:.4f}  val_ce {vce:.4f}  val_err {verr:5.1f}%{mark}")

tce, terr = measure(model, TEST)
print(f"test_ce {tce:.4f}  test_err {terr:.1f}%  majority-guess err {majority_err:.1f}%  "
      f"(label-noise floor about 5%)  seconds {time.time() - t0:.1f}")
