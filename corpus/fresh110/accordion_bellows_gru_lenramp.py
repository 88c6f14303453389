"""Accordion bellows reserve tagging.

A player's log is a sequence of events: bellows direction (push / pull) and
which of 6 buttons is pressed.  At each event, tag how long the bellows have
been moving in the current direction: 0 = just reversed, 1 = 1-2 events,
2 = 3-5 events, 3 = 6+ events (running low on air).  Embedding -> GRU -> Linear.
Curriculum: sequence length grows 8 -> 16 -> 32 events per stage.
Loss reported in bits per event.  Linear warm-up from lr 0, compiled step.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
LN2 = math.log(2.0)


def make_logs(n, length):
    # direction flips with prob 0.22 per event, button uniform
    flips = rng.random((n, length)) < 0.22
    flips[:, 0] = False
    direction = (np.cumsum(flips, 1) + rng.integers(0, 2, (n, 1))) % 2
    button = rng.integers(0, 6, (n, length))
    tok = direction * 6 + button  # 12 tokens
    run = np.zeros((n, length), dtype=np.int64)
    for t in range(1, length):
        run[:, t] = np.where(flips[:, t], 0, run[:, t - 1] + 1)
    tag = np.select([run == 0, run <= 2, run <= 5], [0, 1, 2], 3)
    # noise: 3% of events are mis-logged buttons (direction is kept)
    noisy = rng.random((n, length)) < 0.03
    tok = np.where(noisy, direction * 6 + rng.integers(0, 6, (n, length)), tok)
    return mx.array(tok.astype(np.int32)), mx.array(tag.astype(np.int32))


class Tagger(nn.Module):
    def __init__(self, vocab=12, dim=16, hidden=48, classes=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.out = nn.Linear(hidden, classes)

    def __call__(self, tok):
        return self.out(self.rnn(self.emb(tok)))


def loss_fn(model, tok, tag):
    return nn.losses.cross_entropy(model(tok), tag, reduction="mean")


model = Tagger()
mx.eval(model.parameters())
STAGES = [(8, 200), (16, 120), (32, 100)]
TOTAL = sum(s for _, s in STAGES)
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, TOTAL - 60, 2e-4)], [60])
opt = optim.Adam(learning_rate=schedule)
vg = nn.value_and_grad(model, loss_fn)

# gradient audit before compiling
tok0, tag0 = make_logs(8, 8)
_, g0 = vg(model, tok0, tag0)
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print({"event": "grad_audit", "leaves": len(leaves), "zero_leaves": zero})

opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(tok, tag):
    loss, g = vg(model, tok, tag)
    opt.update(model, g)
    return loss


def eval_loss(tok, tag):
    logits = model(tok)
    ce = nn.losses.cross_entropy(logits, tag, reduction="mean")
    acc = mx.mean(mx.argmax(logits, -1) == tag)
    return ce, acc


val = {L: make_logs(256, L) for L in (8, 16, 32, 64)}
ce, acc = eval_loss(*val[32])
print({"event": "untrained", "val32_bits": round(ce.item() / LN2, 4),
       "uniform_bits": 2.0, "val32_acc_pct": round(100 * acc.item(), 1)})

it, t0 = 0, time.time()
for length, steps in STAGES:
    window = []
    for s in range(steps):
        tok, tag = make_logs(32, length)
        lr_now = opt.learning_rate.item()
        loss = step(tok, tag)
        mx.eval(loss, state)
        it += 1
        window.append(loss.item())
        if s == 0 or (s + 1) % 40 == 0 or s + 1 == steps:
            ce, acc = eval_loss(*val[length])
            print({"stage_len": length, "iter": it, "lr": round(lr_now, 6),
                   "train_bits": round(float(np.mean(window)) / LN2, 4),
                   "val_bits": round(ce.item() / LN2, 4),
                   "val_acc_pct": round(100 * acc.item(), 1),
                   "secs": round(time.time() - t0, 1)})
            window = []

for L in (8, 16, 32, 64):
    ce, acc = eval_loss(*val[L])
    print({"event": "final", "len": L, "val_bits": round(ce.item() / LN2, 4),
           "val_acc_pct": round(100 * acc.item(), 1)})
