"""Next-character model of Roman numerals (1..3999) with a FIXED random
embedding table (frozen on purpose) and a trainable MLP head.
Loss is reported in bits per character on held-out numerals."""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("romanlm")

SYMS = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
        (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    out = []
    for v, s in SYMS:
        while n >= v:
            out.append(s)
            n -= v
    return "".join(out)


ALPHA = "^$IVXLCDM"          # ^ = start pad, $ = end of numeral
STOI = {c: i for i, c in enumerate(ALPHA)}
CTX = 4


def windows(numbers):
    xs, ys = [], []
    for n in numbers:
        s = "^" * CTX + to_roman(int(n)) + "$"
        ids = [STOI[c] for c in s]
        for t in range(CTX, len(ids)):
            xs.append(ids[t - CTX:t])
            ys.append(ids[t])
    return np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int32)


class CharMLP(nn.Module):
    def __init__(self, vocab, dim=12, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = h + nn.gelu(self.fc2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bits_per_char(model, x, y, bs=2048):
    tot = 0.0
    for i in range(0, len(y), bs):
        xb, yb = mx.array(x[i:i + bs]), mx.array(y[i:i + bs])
        tot += nn.losses.cross_entropy(model(xb), yb, reduction="sum").item()
    return tot / len(y) / math.log(2)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    nums = rng.permutation(np.arange(1, 4000))
    test_nums, train_nums = nums[:500], nums[500:]
    xtr, ytr = windows(train_nums)
    xte, yte = windows(test_nums)
    counts = np.bincount(ytr, minlength=len(ALPHA)) + 1.0
    p = counts / counts.sum()
    unigram_bits = float(-np.mean(np.log2(p[yte])))
    log.info("train windows=%d  test windows=%d  unigram baseline=%.3f bits/char",
             len(ytr), len(yte), unigram_bits)

    model = CharMLP(len(ALPHA))
    model.embed.freeze()               # fixed random code book, never trained
    mx.eval(model.parameters())
    frozen_before = np.array(model.embed.weight)

    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 300),
                                  optim.cosine_decay(3e-3, 2700, 3e-4)], [300])
    opt = optim.Adamax(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    # gradient audit on the first batch (trainable leaves only)
    idx0 = rng.integers(0, len(ytr), 128)
    _, g0 = vg(model, mx.array(xtr[idx0]), mx.array(ytr[idx0]))
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.info("trainable leaves=%d zero-grad leaves=%s (embed.weight frozen: %s)",
             len(flat), zero or "none", "embed.weight" not in dict(flat))

    log.info("step 0 test=%.3f bits/char", bits_per_char(model, xte, yte))
    steps, bs, t0 = 3000, 128, time.time()
    run = []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(ytr), bs)
        loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item() / math.log(2))
        if step % 500 == 0:
            log.info("step %d lr=%.2e train=%.3f bits/char test=%.3f bits/char (%.1fs)",
                     step, float(opt.learning_rate), float(np.mean(run)),
                     bits_per_char(model, xte, yte), time.time() - t0)
            run = []
    drift = float(np.abs(np.array(model.embed.weight) - frozen_before).max())
    final = bits_per_char(model, xte, yte)
    log.info("done: test %.3f bits/char vs unigram %.3f; frozen table max drift=%.1e",
             final, unigram_bits, drift)


if __name__ == "__main__":
    main()
