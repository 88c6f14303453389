"""Sauerkraut crocks: predict how a home-fermented crock turns out at day 21.

Classes: 0 = clean sour kraut, 1 = soft / mushy, 2 = kahm-yeast film.
Features (synthetic): salt %, room temp, brine cover (mm above cabbage),
weight-stone used, days opened, starting pH, cabbage age, head density.

MLP trained with Muon on the matrices and AdamW on biases / norms
(MultiOptimizer), gradients averaged through mx.distributed (one process here,
the same code runs on several hosts).  Three seeds, each a fresh model, with
label smoothing.  Log lines are JSON, one per record.
"""
import json
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("kraut")

group = mx.distributed.init()
world = group.size()
rank = group.rank()


def make_crocks(n, rng):
    X, Y = [], []
    for _ in range(n):
        salt = rng.uniform(0.8, 3.5)
        temp = rng.uniform(12, 28)
        cover = rng.uniform(-10, 40)
        stone = float(rng.random() < 0.6)
        opened = float(rng.randint(0, 8))
        ph0 = rng.uniform(5.8, 6.8)
        age = rng.uniform(0, 20)
        dens = rng.uniform(0.5, 1.0)
        soft = 1.4 * (temp - 20) / 4 - 1.6 * (salt - 2.0) + 0.08 * age - 1.0 + rng.gauss(0, 0.6)
        kahm = -0.08 * cover + 0.35 * opened - 1.2 * stone + 0.4 * (temp - 20) / 4 - 0.3 + rng.gauss(0, 0.6)
        clean = 0.6 + 0.5 * dens - 0.8 * (ph0 - 6.3)
        Y.append(max(range(3), key=lambda k: (clean, soft, kahm)[k]))
        X.append([(salt - 2.15) / 0.8, (temp - 20) / 4.6, (cover - 15) / 14.4, stone * 2 - 1,
                  (opened - 3.5) / 2.3, (ph0 - 6.3) / 0.29, (age - 10) / 5.8, (dens - 0.75) / 0.14])
    return mx.array(X), mx.array(Y)


class CrockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.n1 = nn.LayerNorm(48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.silu(self.n1(self.l1(x)))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y, label_smoothing=0.1))


def macro_f1(logits, y):
    pred = mx.argmax(logits, axis=1)
    f1s = []
    for c in range(3):
        tp = mx.sum((pred == c) & (y == c)).item()
        fp = mx.sum((pred == c) & (y != c)).item()
        fn = mx.sum((pred != c) & (y == c)).item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / 3


data_rng = random.Random(2024)
Xtr, Ytr = make_crocks(1536, data_rng)
Xva, Yva = make_crocks(384, data_rng)
counts = [mx.sum(Yva == c).item() for c in range(3)]
majority = max(counts) / sum(counts)
log.info(json.dumps({"event": "data", "world": world, "rank": rank, "train": int(Xtr.shape[0]),
                     "val_class_counts": counts, "majority_acc": round(majority, 3)}))

EPOCHS, BATCH = 12, 64
summary = []
for seed in (3, 17, 41):
    mx.random.seed(seed)
    rng = random.Random(seed)
    model = CrockNet()
    mx.eval(model.parameters())
    opt = optim.MultiOptimizer(
        [optim.Muon(learning_rate=0.02, momentum=0.9), optim.AdamW(learning_rate=3e-3, weight_decay=0.0)],
        [lambda name, w: w.ndim == 2],
    )
    vg = nn.value_and_grad(model, loss_fn)
    step = 0
    order = list(range(Xtr.shape[0]))
    logits = model(Xva)
    log.info(json.dumps({"seed": seed, "epoch": -1, "step": 0,
                         "val_nll": round(mx.mean(nn.losses.cross_entropy(logits, Yva)).item(), 4),
                         "acc": round(mx.mean(mx.argmax(logits, axis=1) == Yva).item(), 4),
                         "macro_f1": round(macro_f1(logits, Yva), 4)}))
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        run = 0.0
        nb = 0
        for b in range(0, len(order), BATCH):
            idx = mx.array(order[b:b + BATCH])
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
            nb += 1
            step += 1
        logits = model(Xva)
        val_nll = mx.mean(nn.losses.cross_entropy(logits, Yva)).item()
        acc = mx.mean(mx.argmax(logits, axis=1) == Yva).item()
        log.info(json.dumps({"seed": seed, "epoch": epoch, "step": step, "train_smooth_ce": round(run / nb, 4),
                             "val_nll": round(val_nll, 4), "acc": round(acc, 4),
                             "macro_f1": round(macro_f1(logits, Yva), 4)}))
    summary.append((seed, val_nll, acc))

accs = [a for _, _, a in summary]
mean = sum(accs) / len(accs)
sd = math.sqrt(sum((a - mean) ** 2 for a in accs) / len(accs))
log.info(json.dumps({"event": "sweep_done", "seeds": [s for s, _, _ in summary],
                     "acc_mean": round(mean, 4), "acc_sd": round(sd, 4),
                     "majority_acc": round(majority, 3)}))
