"""Knitting-pattern recognition from stitch sequences.

Each sample is a row of 24 stitches (k, p, yo, k2tog, ssk, sl, m1, tbl) from one of
four pattern families (garter, 2x2 rib, feather-and-fan lace, seed), with 12% of the
stitches replaced by random ones (miscounts).  The stitch embedding table is a fixed,
pretrained-looking table that we deliberately freeze; only the GRU and the head train.
The learning rate warms up linearly from 0.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("knitnet")

STITCHES = ["k", "p", "yo", "k2tog", "ssk", "sl", "m1", "tbl"]
CLASSES = ["garter", "rib2x2", "feather_fan", "seed"]
L = 24
rng = np.random.default_rng(7)


def make_row(c):
    if c == 0:   # garter: all knit (alternate rows look the same from the RS)
        row = [0] * L
    elif c == 1:  # 2x2 rib
        off = rng.integers(4)
        row = [0 if ((i + off) // 2) % 2 == 0 else 1 for i in range(L)]
    elif c == 2:  # feather and fan: k2tog x2, (yo, k) x4, ssk x2 repeated
        unit = [3, 3, 2, 0, 2, 0, 2, 0, 2, 0, 4, 4]
        off = rng.integers(12)
        row = [unit[(i + off) % 12] for i in range(L)]
    else:         # seed: k1 p1 shifting each row
        off = rng.integers(2)
        row = [(i + off) % 2 for i in range(L)]
    row = np.array(row)
    noise = rng.random(L) < 0.12
    row[noise] = rng.integers(0, len(STITCHES), noise.sum())
    return row


def make_set(n):
    y = rng.integers(0, 4, n)
    x = np.stack([make_row(c) for c in y])
    return mx.array(x.astype(np.int32)), mx.array(y.astype(np.int32))


class KnitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(len(STITCHES), 16)
        self.rnn = nn.GRU(16, 48)
        self.head = nn.Linear(48, len(CLASSES))

    def __call__(self, x):
        h = self.rnn(self.embed(x))
        return self.head(h[:, -1, :])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    t0 = time.time()
    xtr, ytr = make_set(3000)
    xva, yva = make_set(600)
    mx.random.seed(3)
    model = KnitNet()
    model.embed.freeze()           # stitch table is fixed on purpose
    mx.eval(model.parameters())
    frozen_before = np.array(model.embed.weight)

    epochs, bs = 8, 50
    steps_per_epoch = len(ytr) // bs
    total = epochs * steps_per_epoch
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 2e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("data train=%d valid=%d chance_ce=%.4f", len(ytr), len(yva), np.log(4))
    log.info("params trainable=%d total=%d (embedding frozen)", n_train, n_all)

    step = 0
    for ep in range(1, epochs + 1):
        perm = mx.array(np.random.default_rng(ep).permutation(len(ytr)).astype(np.int32))
        tot, nb = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss, g = vg(model, xtr[idx], ytr[idx])
            if step == 0:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                log.info("first-step gradient audit: leaves=%d zero=%d loss0=%.4f lr0=%.2e",
                         len(leaves), len(zero), loss.item(), float(opt.learning_rate))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1; step += 1
        logits = model(xva)
        vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        vacc = (mx.argmax(logits, axis=1) == yva).mean().item()
        log.info("epoch %d/%d train_ce=%.4f valid_ce=%.4f valid_acc=%.3f lr=%.2e elapsed=%.1fs",
                 ep, epochs, tot / nb, vce, vacc, float(opt.learning_rate), time.time() - t0)
    drift = float(np.abs(np.array(model.embed.weight) - frozen_before).max())
    log.info("frozen embedding max drift=%.1e (expected 0)", drift)
    pred = np.array(mx.argmax(model(xva), axis=1)); yv = np.array(yva)
    for c, name in enumerate(CLASSES):
        log.info("recall %-12s %.3f", name, (pred[yv == c] == c).mean())


if __name__ == "__main__":
    main()
