"""Class-incremental fibre identification with an exemplar rehearsal memory.

Six textile fibres are identified from 12 near-infrared reflectance bands.
The classes arrive in three tasks of two fibres each. The classifier head has
all six outputs from the start; outputs of fibres not seen yet are masked out
of the softmax. A rehearsal memory keeps raw exemplars of every class seen so
far (at most MAX_PER_CLASS rows per class and MEM_CAP rows in total, split evenly
between the seen classes) and
each training batch mixes new data with a batch replayed from the memory.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FIBRES = ["cotton", "wool", "silk", "linen", "polyester", "nylon"]
TASKS = [(0, 1), (2, 3), (4, 5)]
PER_CLASS = 3000
EPOCHS = 8
BATCH = 64
REPLAY = 32
MEM_CAP = 480
MAX_PER_CLASS = 160

log = logging.getLogger("fibres")


def make_spectra(rng, per_class):
    bands = np.linspace(0, 1, 12)
    X, y = [], []
    for c in range(len(FIBRES)):
        centre = 0.15 + 0.14 * c
        width = 0.08 + 0.02 * (c % 3)
        depth = 0.35 + 0.1 * ((c * 7) % 4)
        a = rng.uniform(0.7, 1.3, (per_class, 1)) * depth
        shift = rng.normal(0, 0.07, (per_class, 1))
        base = rng.uniform(0.4, 0.9, (per_class, 1)) + rng.normal(0, 0.15, (per_class, 1)) * bands
        dip = a * np.exp(-((bands - centre - shift) ** 2) / (2 * width ** 2))
        second = 0.15 * np.exp(-((bands - (1.0 - centre)) ** 2) / 0.01)
        spec = base - dip - second + rng.normal(0, 0.07, (per_class, 12))
        X.append(spec)
        y.append(np.full(per_class, c))
    X = np.concatenate(X).astype(np.float32)
    y = np.concatenate(y).astype(np.int32)
    return X, y


class FibreNet(nn.Module):
    def __init__(self, n_in=12, hidden=128, n_cls=6):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        return self.head(self.body(x))


def masked_logits(model, x, seen):
    return mx.where(seen, model(x), -1e9)


def loss_fn(model, x, y, seen):
    return nn.losses.cross_entropy(masked_logits(model, x, seen), y, reduction="mean")


class Memory:
    """Raw exemplars kept as numpy rows, rebalanced to min(MAX_PER_CLASS, MEM_CAP // n_classes) per class."""

    def __init__(self, cap, rng):
        self.cap, self.rng = cap, rng
        self.store = {}

    def add_class(self, c, X):
        self.store[c] = X[self.rng.permutation(len(X))]
        quota = min(MAX_PER_CLASS, self.cap // len(self.store))
        for k in self.store:
            self.store[k] = self.store[k][:quota]

    def rows(self):
        return sum(len(v) for v in self.store.values())

    def nbytes(self):
        return sum(v.nbytes for v in self.store.values())

    def sample(self, n):
        if not self.store:
            return None, None
        X = np.concatenate(list(self.store.values()))
        y = np.concatenate([np.full(len(v), k, np.int32) for k, v in self.store.items()])
        idx = self.rng.integers(0, len(X), n)
        return X[idx], y[idx]


def accuracy(model, X, y, seen):
    pred = np.array(mx.argmax(masked_logits(model, mx.array(X), seen), axis=1))
    return float((pred == y).mean())


def main():
    logging.basicConfig(level=logging.INFO)
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    Xtr, ytr = make_spectra(rng, PER_CLASS)
    Xte, yte = make_spectra(rng, 400)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd

    model = FibreNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.03, momentum=0.9)
    step = nn.value_and_grad(model, loss_fn)
    memory = Memory(MEM_CAP, rng)
    log.info("train %d spectra, test %d, %d tasks, memory cap %d rows", len(Xtr), len(Xte), len(TASKS), MEM_CAP)

    seen_classes = []
    checked = False
    t0 = time.time()
    for t, task in enumerate(TASKS):
        seen_classes += list(task)
        seen = mx.array([c in seen_classes for c in range(len(FIBRES))])
        sel = np.isin(ytr, task)
        Xn, yn = Xtr[sel], ytr[sel]
        old = [c for c in seen_classes if c not in task]
        for ep in range(1, EPOCHS + 1):
            perm = rng.permutation(len(Xn))
            tot, cnt = 0.0, 0
            for i in range(0, len(perm) - BATCH + 1, BATCH):
                xb, yb = Xn[perm[i:i + BATCH]], yn[perm[i:i + BATCH]]
                xm, ym = memory.sample(REPLAY)
                if xm is not None:
                    xb, yb = np.concatenate([xb, xm]), np.concatenate([yb, ym])
                loss, grads = step(model, mx.array(xb), mx.array(yb), seen)
                if not checked:
                    zero = [k for k, g in tree_flatten(grads) if not mx.any(g != 0).item()]
                    log.info("grad check: %d leaves, all-zero leaves: %s",
                             len(tree_flatten(grads)), zero or "none")
                    checked = True
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
                cnt += 1
            te_seen = np.isin(yte, seen_classes)
            acc_all = accuracy(model, Xte[te_seen], yte[te_seen], seen)
            if old:
                te_old = np.isin(yte, old)
                acc_old = f"{100 * accuracy(model, Xte[te_old], yte[te_old], seen):.1f}%"
            else:
                acc_old = "n/a"
            log.info("task %d %s epoch %d: train_ce=%.4f acc_seen=%.1f%% acc_old=%s memory=%d rows",
                     t + 1, "+".join(FIBRES[c] for c in task), ep, tot / cnt,
                     100 * acc_all, acc_old, memory.rows())
        # after the task, store exemplars of its classes (memory grows up to the cap)
        for c in task:
            memory.add_class(c, Xn[yn == c])
        log.info("memory after task %d: %d rows, %.1f KiB, %d per class",
                 t + 1, memory.rows(), memory.nbytes() / 1024, min(MAX_PER_CLASS, MEM_CAP // len(memory.store)))

    final = np.array(mx.argmax(masked_logits(model, mx.array(Xte), mx.array([True] * 6)), axis=1))
    for c, name in enumerate(FIBRES):
        log.info("recall %-9s %.1f%%", name, 100 * (final[yte == c] == c).mean())
    log.info("final accuracy over all six fibres: %.1f%% (%.1fs)", 100 * (final == yte).mean(), time.time() - t0)


if __name__ == "__main__":
    main()
