"""Stained-glass conservation survey: which deterioration does a pane show?

Classes: sound / crizzling / pitting / paint_loss, from 8 portable XRF + colorimeter
readings per pane. Labels come from a conservator looking at the pane under a
microscope, so they are expensive: pool-based active learning with a query-by-committee
rule. Every round a committee of three small nets is trained FROM SCRATCH on the panes
labelled so far (different seeds), then the 40 pool panes with the highest vote entropy
are sent to the conservator. Training is silent; one table row per round.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["sound", "crizzling", "pitting", "paint_loss"]
FEATURES = 8
SEED_LABELS = 24
PER_ROUND = 40
ROUNDS = 7
MEMBERS = 3
STEPS = 100

rng = np.random.default_rng(2024)


def panes(n):
    y = rng.choice(4, size=n, p=[0.55, 0.2, 0.15, 0.1])
    k2o = rng.normal(0.0, 1.0, n)          # potash content (medieval glass is high)
    cao = rng.normal(0.0, 1.0, n)
    x = np.stack(
        [
            k2o,
            cao,
            rng.normal(0, 1, n),           # lead (paint) signal
            rng.normal(0, 1, n),           # colour shift dE
            rng.normal(0, 1, n),           # gloss
            rng.normal(0, 1, n),           # haze
            rng.normal(0, 1, n),           # surface roughness
            rng.normal(0, 1, n),           # humidity at the window
        ],
        axis=1,
    )
    crizz = (y == 1)
    x[crizz, 5] += 2.2 + 0.6 * x[crizz, 0]
    x[crizz, 4] -= 1.0
    pit = (y == 2)
    x[pit, 6] += 2.0 + 0.5 * np.abs(x[pit, 1])
    x[pit, 3] += 0.8
    paint = (y == 3)
    x[paint, 2] -= 2.2
    x[paint, 3] += 1.2
    x += 0.35 * rng.normal(size=x.shape)
    return x.astype(np.float32), y.astype(np.int32)


x_pool, y_pool = panes(3000)
x_test, y_test = panes(1000)
mu, sd = x_pool.mean(0), x_pool.std(0)
x_pool = (x_pool - mu) / sd
x_test = (x_test - mu) / sd
XP, XT, YT = mx.array(x_pool), mx.array(x_test), mx.array(y_test)

labelled = np.zeros(len(y_pool), dtype=bool)
labelled[rng.choice(len(y_pool), SEED_LABELS, replace=False)] = True


class Member(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(FEATURES, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, len(CLASSES))

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


def train_member(seed, xl, yl):
    mx.random.seed(seed)
    net = Member()
    sched = optim.cosine_decay(0.05, STEPS, end=0.002)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(net, loss_fn)
    first = last = None
    for step in range(STEPS):
        loss, grads = vg(net, xl, yl)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        if step == 0:
            first = loss.item()
            if seed == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                print(f"first-step gradient check: {len(leaves)} arrays, zero arrays: {zero}")
        last = loss.item()
    return net, first, last


def vote_entropy(votes):
    # votes: (members, n) predicted classes
    n = votes.shape[1]
    counts = np.zeros((n, len(CLASSES)))
    for v in votes:
        counts[np.arange(n), v] += 1
    p = counts / votes.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0)).sum(1)
    return h


majority = 100 * (1 - np.mean(y_test == 0))
print(f"pool {len(y_pool)} panes, test {len(y_test)} panes, committee of {MEMBERS}, {STEPS} steps per member")
print(f"always-'sound' error on test: {majority:.1f}%   (lower is better everywhere below)")
t0 = time.time()
for rnd in range(ROUNDS + 1):
    idx = np.flatnonzero(labelled)
    xl, yl = mx.array(x_pool[idx]), mx.array(y_pool[idx])
    members, firsts, lasts = [], [], []
    for m in range(MEMBERS):
        net, f, l = train_member(1000 * rnd + 17 * m, xl, yl)
        members.append(net)
        firsts.append(f)
        lasts.append(l)

    test_logits = mx.stack([net(XT) for net in members])
    test_votes = np.array(mx.argmax(test_logits, axis=-1))
    member_err = 100 * np.mean(test_votes != y_test[None, :])
    committee = np.array(mx.argmax(mx.softmax(test_logits, axis=-1).mean(0), axis=-1))
    committee_err = 100 * np.mean(committee != y_test)

    pool_votes = np.array(mx.argmax(mx.stack([net(XP) for net in members]), axis=-1))
    ve = vote_entropy(pool_votes)
    ve[labelled] = -1.0
    unl = ~labelled
    if rnd == 0:
        print()
        print("| round | labelled | member CE first -> last | committee err % | member err % (mean) | mean vote entropy (bits, pool) |")
        print("|---|---|---|---|---|---|")
    print(
        f"| {rnd} | {labelled.sum()} | {np.mean(firsts):.3f} -> {np.mean(lasts):.3f} | "
        f"{committee_err:.1f} | {member_err:.1f} | {ve[unl].mean():.3f} |"
    )
    if rnd < ROUNDS:
        pick = np.argsort(-ve)[:PER_ROUND]
        labelled[pick] = True

counts = np.bincount(y_pool[labelled], minlength=4)
print()
print("labelled panes per class: " + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, counts)))
print(f"done in {time.time() - t0:.1f}s")
