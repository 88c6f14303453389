"""Discriminative embedding: softmax cross-entropy plus the 'center loss' (Wen et al. 2016)
that pulls each 8-d embedding toward a learned per-class center. Reports via `logging`."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)-5s | %(message)s")
log = logging.getLogger("centerloss")

N_CLASSES, DIM_IN, DIM_EMB = 6, 24, 8
LAMBDA = 0.05


def make_data(means, rng, n_per_class):
    xs, ys = [], []
    for k in range(N_CLASSES):
        xs.append(means[k] + rng.normal(0, 1.7, size=(n_per_class, DIM_IN)))
        ys.append(np.full(n_per_class, k))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int32)
    p = rng.permutation(len(y))
    return x[p], y[p]


class EmbedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(DIM_IN, 256), nn.ReLU(), nn.Linear(256, DIM_EMB))
        self.head = nn.Linear(DIM_EMB, N_CLASSES)
        self.centers = mx.random.normal((N_CLASSES, DIM_EMB)) * 0.1   # learned class centers

    def __call__(self, x):
        emb = self.trunk(x)
        return emb, self.head(emb)


def loss_fn(model, x, y):
    emb, logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    center = 0.5 * mx.mean(mx.sum(mx.square(emb - model.centers[y]), axis=1))
    return ce + LAMBDA * center, (ce, center)


def spread_ratio(emb, y):
    """mean distance to own class mean / mean distance between class means."""
    emb, y = np.array(emb), np.array(y)
    mus = np.stack([emb[y == k].mean(0) for k in range(N_CLASSES)])
    intra = np.mean(np.linalg.norm(emb - mus[y], axis=1))
    d = np.linalg.norm(mus[:, None] - mus[None], axis=-1)
    inter = d[np.triu_indices(N_CLASSES, 1)].mean()
    return intra / inter


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    means = rng.normal(0, 1.0, size=(N_CLASSES, DIM_IN))          # shared class prototypes
    xtr, ytr = make_data(means, np.random.default_rng(101), 4000)    # independent noise draws
    xte, yte = make_data(means, np.random.default_rng(202), 800)
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))

    model = EmbedNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9)
    step = nn.value_and_grad(model, loss_fn)

    (l0, _), g0 = step(model, xtr[:256], ytr[:256])
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.max(mx.abs(v))) == 0.0]
    log.info("start: %d parameter leaves, zero-gradient leaves: %s, initial loss %.4f",
             len(flat), zero or "none", l0.item())

    bs, n = 128, xtr.shape[0]
    t0 = time.time()
    for epoch in range(1, 17):
        perm = mx.array(np.random.default_rng(epoch).permutation(n))
        ce_sum = cen_sum = 0.0
        nb = 0
        for s in range(0, n - bs + 1, bs):
            idx = perm[s:s + bs]
            (loss, (ce, cen)), grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, ce, cen)
            ce_sum += ce.item()
            cen_sum += cen.item()
            nb += 1
        emb, logits = model(xte)
        acc = mx.mean(mx.argmax(logits, axis=1) == yte).item()
        ratio = spread_ratio(emb, yte)
        log.info("epoch %2d | train ce %.4f | center term %.4f | test acc %.3f | intra/inter %.3f",
                 epoch, ce_sum / nb, cen_sum / nb, acc, ratio)
    log.info("finished in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
