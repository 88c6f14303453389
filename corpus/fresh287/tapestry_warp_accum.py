"""Tapestry loom: weave-fault class (clean / slack warp / tight warp / skipped pick)
from 16 warp-tension readings per pass.

Passes arrive from several looms through a generator pipeline: each loom yields
passes in bursts of uneven length, a round-robin merge interleaves them, and
itertools.islice cuts micro-batches of 24 (the last one of a bolt is short).
Gradients of 3 micro-batches are accumulated, weighted by their real row counts.
About 15 % of the labels were mis-recorded by the weaver, so the
training cross-entropy settles on a floor well above zero.
"""
import itertools
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

CLASSES = ["clean", "slack", "tight", "skip"]


def loom_passes(loom_id, n_passes, rng):
    base = rng.normal(0, 0.3, 16)
    left = n_passes
    while left > 0:
        burst = min(left, int(rng.integers(5, 40)))
        for _ in range(burst):
            c = int(rng.choice(4, p=[0.46, 0.18, 0.18, 0.18]))
            t = base + rng.normal(0, 0.5, 16)
            if c == 1:
                t[rng.integers(0, 12):][:4] -= 1.1
            elif c == 2:
                t += np.linspace(0, 1.0, 16)
            elif c == 3:
                t[int(rng.integers(0, 16))] += 2.2
            shown = c if rng.random() > 0.15 else int(rng.integers(4))
            yield t.astype(np.float32), shown, c
        left -= burst


def bolt(seed, n_looms=5, per_loom=260):
    rng = np.random.default_rng(seed)
    gens = [loom_passes(i, per_loom, rng) for i in range(n_looms)]
    while gens:
        alive = []
        for g in gens:
            item = next(g, None)
            if item is not None:
                yield item
                alive.append(g)
        gens = alive


def micro_batches(stream, size):
    while True:
        chunk = list(itertools.islice(stream, size))
        if not chunk:
            return
        x = mx.array(np.stack([c[0] for c in chunk]))
        y = mx.array(np.array([c[1] for c in chunk], np.int32))
        yield x, y


class WarpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))

    def __call__(self, x):
        return self.net(x)


def sum_xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="sum")


def main():
    t0 = time.perf_counter()
    mx.random.seed(2)
    model = WarpNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.0, momentum=0.9)
    vg = nn.value_and_grad(model, sum_xent)

    test = list(bolt(999, n_looms=4, per_loom=150))
    tx = mx.array(np.stack([t[0] for t in test]))
    ty_true = np.array([t[2] for t in test])
    majority = float((ty_true == 0).mean())

    accum, warm, peak = 3, 30, 0.1
    print(f"{'bolt':>4} {'update':>6} {'rows':>6} {'lr':>8} {'train_xent':>10} {'test_acc%':>9} {'majority%':>9} {'short_mb':>8}")
    update, rows_seen, short = 0, 0, 0
    for b in range(14):
        acc_g, acc_rows, acc_loss = None, 0, 0.0
        win_loss, win_rows = 0.0, 0
        mbs = list(micro_batches(bolt(100 + b), 24))
        for k, (x, y) in enumerate(mbs):
            loss, g = vg(model, x, y)
            n = y.shape[0]
            short += int(n < 24)
            acc_g = g if acc_g is None else tree_map(lambda a, c: a + c, acc_g, g)
            acc_rows += n
            acc_loss += loss.item()
            if (k + 1) % accum == 0 or k == len(mbs) - 1:
                lr = peak * min(1.0, update / warm) * (0.3 ** (update // 100))
                opt.learning_rate = lr
                opt.update(model, tree_map(lambda a: a / acc_rows, acc_g))
                mx.eval(model.parameters(), opt.state)
                update += 1
                rows_seen += acc_rows
                win_loss += acc_loss
                win_rows += acc_rows
                acc_g, acc_rows, acc_loss = None, 0, 0.0
                if update % 20 == 0:
                    pred = np.array(mx.argmax(model(tx), axis=1))
                    acc = 100.0 * float((pred == ty_true).mean())
                    print(f"{b:>4} {update:>6} {rows_seen:>6} {lr:>8.4f} {win_loss / win_rows:>10.4f} "
                          f"{acc:>9.2f} {100 * majority:>9.2f} {short:>8}")
                    win_loss, win_rows = 0.0, 0
    pred = np.array(mx.argmax(model(tx), axis=1))
    per = {c: round(100.0 * float((pred[ty_true == i] == i).mean()), 1) for i, c in enumerate(CLASSES)}
    print(f"final per-class recall %: {per}")
    print(f"{update} updates over {rows_seen} passes in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
