"""Sabre right-of-way referee: learn to call a phrase left / right / simultaneous.

Synthetic phrase features from a (made-up) scoring-box + video log:
  0 attack onset diff (ms, left minus right, /100)
  1 lunge arm-extension diff
  2 parry flag left   3 parry flag right
  4 blade contact time (ms/100)  5 footwork tempo diff
  6 distance at onset (m)         7 noise channel (referee fatigue)

Curriculum: stage "clear" trains only on phrases far from the decision
boundary; stage "mixed" adds the ambiguous ones (loss goes UP there on
purpose), stage "full" uses everything with a warm restart of the LR.
A custom-VJP "box gate" (hard clip forward, straight-through-ish backward)
sits between the two hidden layers.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s ref: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("sabre")

rng = np.random.default_rng(161)
N = 6000


def make_phrases(n):
    x = rng.normal(size=(n, 8)).astype(np.float32)
    x[:, 2] = (rng.random(n) < 0.25).astype(np.float32)
    x[:, 3] = (rng.random(n) < 0.25).astype(np.float32)
    x[:, 6] = np.abs(x[:, 6]) + 1.0
    # priority score: positive -> left has right of way
    s = (1.6 * x[:, 0] + 0.9 * x[:, 1] + 1.4 * (x[:, 2] - x[:, 3])
         + 0.5 * x[:, 5] * x[:, 6] - 0.6 * np.tanh(x[:, 4]) * x[:, 1])
    s = s + 0.35 * rng.normal(size=n)
    y = np.where(s > 0.45, 0, np.where(s < -0.45, 1, 2)).astype(np.int32)
    return x, y, np.abs(s)


xtr, ytr, mtr = make_phrases(N)
xva, yva, _ = make_phrases(1500)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd
Xva, Yva = mx.array(xva), mx.array(yva)
majority = np.bincount(yva).max() / len(yva)


@mx.custom_function
def box_gate(x):
    return mx.clip(x, -1.0, 1.0)


@box_gate.vjp
def box_gate_vjp(primals, cotangent, output):
    x = primals  # single-input custom function: primals is the array itself
    # pass gradient inside the box, leak 10% outside so nothing dies
    scale = mx.where(mx.abs(x) <= 1.0, 1.0, 0.1)
    return cotangent * scale


class Referee(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = box_gate(self.l2(h))
        return self.head(h)


model = Referee()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# stage name, margin threshold (phrases with |s| >= thr), steps, peak lr
stages = [("clear", 1.2, 300, 3e-3), ("mixed", 0.5, 300, 2e-3), ("full", 0.0, 450, 1.5e-3)]
BS = 128

# sanity: every trainable tensor gets a gradient on a first batch
_, g0 = loss_and_grad(model, mx.array(xtr[:256]), mx.array(ytr[:256]))
for name, g in nn.utils.tree_flatten(g0):
    nrm = float(mx.linalg.norm(g))
    log.info("grad audit %-10s |g|=%.3e", name, nrm)
    assert nrm > 0, name


def evaluate():
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Yva)
    return float(ce), 100.0 * float(acc)


for sname, thr, steps, peak in stages:
    idx = np.nonzero(mtr >= thr)[0]
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)], [warm])
    opt = optim.Adam(learning_rate=sched)  # fresh optimizer: warm restart from lr exactly 0
    log.info("=== stage %s: %d phrases (margin >= %.1f), %d steps ===", sname, len(idx), thr, steps)
    run = 0.0
    for step in range(1, steps + 1):
        b = rng.choice(idx, BS, replace=False)
        loss, grads = loss_and_grad(model, mx.array(xtr[b]), mx.array(ytr[b]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = 0.9 * run + 0.1 * loss.item() if step > 1 else loss.item()
        if step % 75 == 0:
            vce, vacc = evaluate()
            log.info("stage=%s step=%d lr=%.2e xent=%.4f val_xent=%.4f val_acc=%.1f%% chance=%.1f%%",
                     sname, step, opt.learning_rate.item(), run, vce, vacc, 100 * majority)

vce, vacc = evaluate()
pred = np.array(mx.argmax(model(Xva), axis=1))
conf = np.zeros((3, 3), int)
for t, p in zip(yva, pred):
    conf[t, p] += 1
log.info("final val_xent=%.4f val_acc=%.1f%% (majority call %.1f%%)", vce, vacc, 100 * majority)
for i, lab in enumerate(["left", "right", "simul"]):
    log.info("  true %-5s -> %s", lab, " ".join(f"{c:5d}" for c in conf[i]))
