"""Quayside fish auction: freshness grade (A / B / C / reject) per species.

One species arrives at a time (cod, then plaice, then mackerel). Each species
gets its own column; columns added later read the hidden layers of earlier
columns through lateral links, and earlier columns are kept as they were.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SPECIES = ["cod", "plaice", "mackerel"]
N_TRAIN = {"cod": 2400, "plaice": 1600, "mackerel": 360}
N_TEST = 600
FEATS = 8   # eye clarity, gill colour, sheen, firmness, odour, hours landed, ice temp, gutted
HID = 48
STEPS = 400
BATCH = 64
LABEL_FLIP = 0.06

rng = np.random.default_rng(11)
shared_w = rng.normal(size=FEATS) / np.sqrt(FEATS)


def make_species(k, n):
    own = rng.normal(size=FEATS) / np.sqrt(FEATS)
    bend = rng.normal(size=FEATS) / np.sqrt(FEATS)

    def draw(m):
        x = rng.normal(size=(m, FEATS)).astype(np.float32)
        s = x @ (0.7 * shared_w + 0.5 * own) + 0.6 * np.tanh(2.0 * (x @ bend)) - 0.3 * k * x[:, 5]
        cuts = np.quantile(s, [0.3, 0.6, 0.85])
        y = np.digitize(s, cuts)
        flip = rng.random(m) < LABEL_FLIP
        y[flip] = rng.integers(0, 4, flip.sum())
        return x, y.astype(np.int32)

    xtr, ytr = draw(n)
    xte, yte = draw(N_TEST)
    return xtr, ytr, xte, yte


class Column(nn.Module):
    def __init__(self, n_prev):
        super().__init__()
        self.l1 = nn.Linear(FEATS, HID)
        self.l2 = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, 4)
        self.lat2 = [nn.Linear(HID, HID, bias=False) for _ in range(n_prev)]
        self.lat_head = [nn.Linear(HID, 4, bias=False) for _ in range(n_prev)]

    def __call__(self, x, prev):
        h1 = nn.silu(self.l1(x))
        z2 = self.l2(h1)
        for lat, (p1, _) in zip(self.lat2, prev):
            z2 = z2 + lat(p1)
        h2 = nn.silu(z2)
        out = self.head(h2)
        for lat, (_, p2) in zip(self.lat_head, prev):
            out = out + lat(p2)
        return h1, h2, out


class ProgressiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.columns = []

    def add_column(self):
        self.columns.append(Column(len(self.columns)))

    def __call__(self, x, task):
        prev = []
        for c in self.columns[: task + 1]:
            h1, h2, out = c(x, prev)
            prev.append((h1, h2))
        return out


def n_params(tree):
    return sum(v.size for _, v in tree_flatten(tree))


def accuracy(model, x, y, task):
    pred = mx.argmax(model(mx.array(x), task), axis=1)
    return 100.0 * mx.mean(pred == mx.array(y)).item()


data = {s: make_species(k, N_TRAIN[s]) for k, s in enumerate(SPECIES)}
model = ProgressiveNet()
t0 = time.perf_counter()


def stamp():
    return f"t+{time.perf_counter() - t0:6.2f}s"


for k, sp in enumerate(SPECIES):
    xtr, ytr, xte, yte = data[sp]
    model.add_column()
    model.freeze()
    model.columns[k].unfreeze()
    mx.eval(model.parameters())
    before = [dict(tree_flatten(c.parameters())) for c in model.columns]

    majority = 100.0 * np.mean(yte == np.bincount(ytr).argmax())
    print(f"{stamp()} :: == {sp} == rows {len(xtr)} :: params total {n_params(model.parameters()):,}"
          f" trainable {n_params(model.trainable_parameters()):,} :: majority-grade guess {majority:.1f}%")

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, STEPS - 40, 1e-4)], [40])
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb, k), yb, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    order = np.arange(len(xtr))
    pos = len(order)
    for step in range(1, STEPS + 1):
        if pos + BATCH > len(order):
            rng.shuffle(order)
            pos = 0
        idx = order[pos: pos + BATCH]
        pos += BATCH
        lr_now = sched(opt.step).item()
        loss, grads = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        if step == 1:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if mx.abs(g).max().item() > 0)
            print(f"{stamp()} :: {sp} :: gradient leaves {len(leaves)} (nonzero {nz}), all in column {k}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 100 == 0:
            accs = []
            for j, other in enumerate(SPECIES):
                if j <= k:
                    accs.append(f"{other} {accuracy(model, data[other][2], data[other][3], j):5.1f}%")
                else:
                    accs.append(f"{other}   --  ")
            print(f"{stamp()} :: {sp} :: step {step:03d}/{STEPS} :: lr {lr_now:.5f} :: batch ce {loss.item():.4f}"
                  f" :: acc {'  '.join(accs)}")

    moved = []
    for j, c in enumerate(model.columns):
        after = dict(tree_flatten(c.parameters()))
        d = max(mx.abs(after[n] - before[j][n]).max().item() for n in after)
        moved.append(f"col{j} {d:.4f}")
    print(f"{stamp()} :: {sp} :: max |dW| per column :: {'  '.join(moved)}")

print(f"{stamp()} :: final grades on held-out lots")
for j, sp in enumerate(SPECIES):
    xte, yte = data[sp][2], data[sp][3]
    maj = 100.0 * np.mean(yte == np.bincount(data[sp][1]).argmax())
    print(f"{stamp()} ::   {sp:9s} acc {accuracy(model, xte, yte, j):5.1f}%   majority {maj:5.1f}%"
          f"   label-flip ceiling ~{100 * (1 - LABEL_FLIP * 0.75):.1f}%")
