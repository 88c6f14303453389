"""Guess a character's Unicode general category from its code point.

Labels come straight from the standard library's unicodedata table.  Inputs are the
14 bits of the code point (as +-1) plus the vector of its 128-code-point block, taken
from a fixed random code book that is frozen on purpose (the block id is a lookup
key, not something to learn).  Lion with a linear warm-up that starts at exactly 0.
"""
import sys
import time
import unicodedata

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LIMIT = 0x3000
KEEP = ["Lo", "Ll", "Lu", "Mn", "So", "Cn", "Po", "Nd"]   # everything else -> "other"
NAMES = KEEP + ["other"]


def build_table():
    cps = np.arange(LIMIT)
    lab = np.array([KEEP.index(c) if c in KEEP else len(KEEP)
                    for c in (unicodedata.category(chr(int(p))) for p in cps)], dtype=np.int32)
    bits = ((cps[:, None] >> np.arange(14)[None, :]) & 1).astype(np.float32) * 2 - 1
    block = (cps >> 7).astype(np.int32)
    return bits, block, lab


class GlyphNet(nn.Module):
    def __init__(self, n_blocks, block_dim=8, hidden=128, n_out=len(NAMES)):
        super().__init__()
        self.block_code = nn.Embedding(n_blocks, block_dim)
        self.block_code.weight = mx.random.normal((n_blocks, block_dim))
        self.block_code.freeze()
        self.l1 = nn.Linear(14 + block_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_out)

    def __call__(self, bits, block):
        h = mx.concatenate([bits, self.block_code(block)], axis=-1)
        h = nn.gelu(self.l1(h))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)


def loss_fn(model, bits, block, y):
    return nn.losses.cross_entropy(model(bits, block), y, label_smoothing=0.1, reduction="mean")


def macro_f1(pred, y, k):
    f1s = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100.0 * float(np.mean(f1s))


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    bits, block, lab = build_table()
    perm = rng.permutation(LIMIT)
    tr, te = perm[:9800], perm[9800:]
    print(f"{LIMIT} code points, {len(tr)} train / {len(te)} held out; class shares:",
          ", ".join(f"{n}={np.mean(lab == i):.1%}" for i, n in enumerate(NAMES)))

    model = GlyphNet(n_blocks=LIMIT >> 7)
    frozen_before = np.array(model.block_code.weight)
    bs, epochs = 64, 14
    steps_per_epoch = len(tr) // bs
    total = steps_per_epoch * epochs
    warm = steps_per_epoch                       # one epoch of warm-up from lr 0
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, warm), optim.cosine_decay(3e-4, total - warm, 1e-5)],
        [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    Xb, Bb, Yb = mx.array(bits), mx.array(block), mx.array(lab)
    te_idx = mx.array(te)

    # gradient audit on the very first batch
    first = mx.array(tr[:bs])
    _, g = vg(model, Xb[first], Bb[first], Yb[first])
    leaves = tree_flatten(g)
    dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"trainable leaves {len(leaves)}, all-zero at step 1: {dead or 'none'}")

    t0 = time.perf_counter()
    step = 0
    for ep in range(1, epochs + 1):
        order = rng.permutation(tr)
        run = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(order[i * bs:(i + 1) * bs])
            loss, g = vg(model, Xb[idx], Bb[idx], Yb[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
            if i % 16 == 0 or i == steps_per_epoch - 1:
                done = (i + 1) / steps_per_epoch
                bar = "=" * int(24 * done) + ">" + " " * (24 - int(24 * done))
                sys.stdout.write(f"\repoch {ep:2d} [{bar}] {i + 1:3d}/{steps_per_epoch} ce {run / (i + 1):.3f}")
                sys.stdout.flush()
        logits = model(Xb[te_idx], Bb[te_idx])
        pred = np.array(mx.argmax(logits, axis=-1))
        acc = 100.0 * np.mean(pred == lab[te])
        f1 = macro_f1(pred, lab[te], len(NAMES))
        lr_now = float(sched(mx.array(step)))
        sys.stdout.write(f"\repoch {ep:2d} done  train ce {run / steps_per_epoch:.3f}  lr {lr_now:.2e}  "
                         f"held-out acc {acc:5.1f}%  mF1 {f1:5.1f}%{' ' * 10}\n")
    drift = float(np.abs(np.array(model.block_code.weight) - frozen_before).max())
    print(f"finished {step} steps in {time.perf_counter() - t0:.1f}s; frozen block code drift {drift:.1e}")


if __name__ == "__main__":
    main()
