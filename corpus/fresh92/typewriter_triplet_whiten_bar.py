"""Questioned-document lab: which typewriter typed this page?

Each page is summarised by 20 glyph-defect measurements (slant of the 'e',
misaligned 't' baseline, worn serif on 'a', ribbon density, ...).  Every
machine has its own defect signature; pages of the same machine vary with
ribbon wear, paper and scanning.  We learn a 16-d embedding with a triplet
loss (batch-all, averaged over the triplets that still violate the margin) so that pages of one machine cluster together, and
evaluate retrieval on machines never seen in training.

The first layer is a PCA-whitening transform fitted once with numpy on the
training pages; it is loaded into an nn.Linear and frozen on purpose.  The
learning rate warms up linearly from 0, then steps down.  Progress is drawn
as a bar redrawn in place with '\r'; one summary line per epoch.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT = 20
N_TRAIN_MACHINES = 200
N_TEST_MACHINES = 20
PAGES_PER_MACHINE = 40
MARGIN = 0.3


def make_pages(rng, n_machines, pages, mix):
    sig = rng.normal(size=(n_machines, 6))          # hidden defect signature
    x, y = [], []
    for m in range(n_machines):
        wear = rng.normal(size=(pages, 1)) * 0.8      # ribbon wear per page
        lat = sig[m] + 0.35 * rng.normal(size=(pages, 6))
        obs = np.tanh(lat @ mix) + 0.6 * wear * mix[0] + 0.15 * rng.normal(size=(pages, N_FEAT))
        x.append(obs)
        y.append(np.full(pages, m))
    return np.concatenate(x).astype(np.float32), np.concatenate(y)


class Whiten(nn.Module):
    """Fixed PCA whitening loaded from numpy; frozen in the model."""

    def __init__(self, mean, comps, scale):
        super().__init__()
        self.proj = nn.Linear(N_FEAT, N_FEAT)
        w = (comps / scale[:, None]).astype(np.float32)         # (out, in)
        self.proj.weight = mx.array(w)
        self.proj.bias = mx.array(-(w @ mean).astype(np.float32))

    def __call__(self, x):
        return self.proj(x)


class Embedder(nn.Module):
    def __init__(self, whiten):
        super().__init__()
        self.whiten = whiten
        self.body = nn.Sequential(nn.Linear(N_FEAT, 96), nn.ReLU(),
                                  nn.Linear(96, 96), nn.ReLU(),
                                  nn.Linear(96, 16))

    def __call__(self, x):
        e = self.body(self.whiten(x))
        return e / mx.sqrt((e * e).sum(-1, keepdims=True) + 1e-8)


def pairwise_dist(e):
    d2 = 2.0 - 2.0 * (e @ e.T)
    return mx.sqrt(mx.maximum(d2, 1e-9))


def batch_all_triplet(model, x, y):
    e = model(x)
    d = pairwise_dist(e)
    same = y[:, None] == y[None, :]
    eye = mx.eye(y.shape[0], dtype=mx.bool_)
    pos_mask = mx.logical_and(same, mx.logical_not(eye))          # (a, p)
    neg_mask = mx.logical_not(same)                               # (a, n)
    valid = mx.logical_and(pos_mask[:, :, None], neg_mask[:, None, :])
    t = d[:, :, None] - d[:, None, :] + MARGIN                     # (a, p, n)
    t = mx.where(valid, nn.relu(t), 0.0)
    n_active = (t > 1e-12).sum()
    loss = t.sum() / mx.maximum(n_active, 1)
    active = n_active / valid.sum()
    return loss, active


def recall_at_1(model, x, y):
    e = model(mx.array(x))
    d = np.array(pairwise_dist(e))
    np.fill_diagonal(d, np.inf)
    nn_idx = d.argmin(1)
    return float((y[nn_idx] == y).mean())


def pk_batches(rng, y, p, k, n_batches):
    classes = np.unique(y)
    by_class = {c: np.flatnonzero(y == c) for c in classes}
    for _ in range(n_batches):
        cs = rng.choice(classes, size=p, replace=False)
        idx = np.concatenate([rng.choice(by_class[c], size=k, replace=False) for c in cs])
        yield idx


def bar(i, n, loss, lr, width=30):
    filled = int(width * i / n)
    sys.stdout.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {i:3d}/{n} "
                     f"loss {loss:.4f} lr {lr:.2e}")
    sys.stdout.flush()


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    mix = rng.normal(size=(6, N_FEAT)) / np.sqrt(6)
    xtr, ytr = make_pages(rng, N_TRAIN_MACHINES, PAGES_PER_MACHINE, mix)
    xte, yte = make_pages(rng, N_TEST_MACHINES, PAGES_PER_MACHINE, mix)

    mean = xtr.mean(0)
    u, s, vt = np.linalg.svd(xtr - mean, full_matrices=False)
    scale = s / np.sqrt(len(xtr) - 1) + 1e-3
    model = Embedder(Whiten(mean, vt, scale))
    model.whiten.freeze()
    mx.eval(model.parameters())
    whiten_before = np.array(model.whiten.proj.weight)

    n_trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"pages: train {len(xtr)} ({N_TRAIN_MACHINES} machines), "
          f"test {len(xte)} ({N_TEST_MACHINES} unseen machines)")
    print(f"parameters: {n_total} total, {n_trainable} trainable (whitening frozen)")

    epochs, per_epoch = 14, 80
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm),
         optim.step_decay(1e-3, 0.5, 400)], [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, batch_all_triplet)

    idx0 = next(pk_batches(rng, ytr, 16, 4, 1))
    (_, _), g = vg(model, mx.array(xtr[idx0]), mx.array(ytr[idx0]))
    flat = tree_flatten(g)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(f"grad check: {len(flat)} trainable leaves, all-zero: {zero}")
    print(f"untrained: test recall@1 {100 * recall_at_1(model, xte, yte):.1f}% "
          f"(a random page is from the same machine "
          f"{100 * (PAGES_PER_MACHINE - 1) / (len(xte) - 1):.1f}% of the time)")

    t0 = time.time()
    for ep in range(1, epochs + 1):
        tot, act = 0.0, 0.0
        for i, idx in enumerate(pk_batches(rng, ytr, 16, 4, per_epoch), 1):
            lr_now = float(sched(opt.step)) if isinstance(opt.step, mx.array) else 0.0
            (loss, active), grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, active)
            tot += loss.item()
            act += active.item()
            if i % 8 == 0 or i == per_epoch:
                bar(i, per_epoch, tot / i, lr_now)
        r1 = recall_at_1(model, xte, yte)
        sys.stdout.write("\n")
        print(f"epoch {ep:2d}: triplet {tot / per_epoch:.4f}  active triplets "
              f"{100 * act / per_epoch:.1f}%  test recall@1 {100 * r1:.1f}%  "
              f"({time.time() - t0:.1f}s)")

    drift = float(np.abs(np.array(model.whiten.proj.weight) - whiten_before).max())
    print(f"done. whitening max change {drift:.1e}; final test recall@1 {100 * r1:.1f}%")


if __name__ == "__main__":
    main()
