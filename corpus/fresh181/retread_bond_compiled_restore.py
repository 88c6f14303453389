"""Truck-tyre retread shop: predict the bond verdict of a retreaded casing.

Classes: 0 under-cured, 1 sound, 2 over-cured, 3 blistered.
Inputs are 9 shop readings per casing (chamber temperature, cure time, buffing
texture, cushion-gum thickness, casing age, moisture, envelope pressure, envelope
leak rate, a noise column).
Small labelled set -> the run overfits after a while; we keep the best-validation
weights and put them back at the end.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(181)
N_TRAIN, N_VAL, N_TEST = 360, 600, 600
D = 9


def make_casings(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    temp, ctime, buff, gum, age, moist, press, leak = (x[:, i] for i in range(8))
    heat = 1.1 * temp + 0.6 * gum - 0.8 * age + 0.4 * press - 0.3 * buff + 0.25 * temp * press
    blist = 0.9 * gum + 0.5 * leak - 0.6 * moist + 0.35 * ctime * gum
    score = np.stack([
        -1.2 * heat,
        1.0 - 0.9 * heat ** 2,
        1.2 * heat - 0.7 * blist,
        0.8 * heat + 1.3 * blist - 0.5,
    ], axis=1)
    p = np.exp(score * 2.2)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=pi) for pi in p], dtype=np.int32)
    return x, y


xtr, ytr = make_casings(N_TRAIN)
xva, yva = make_casings(N_VAL)
xte, yte = make_casings(N_TEST)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)
Xte, Yte = mx.array(xte), mx.array(yte)


class RetreadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 256)
        self.l2 = nn.Linear(256, 256)
        self.out = nn.Linear(256, 4)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


mx.random.seed(7)
model = RetreadNet()
mx.eval(model.parameters())

EPOCHS = 140
BATCH = 40
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = 4 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 4e-4)],
    [warm],
)
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss


# gradient audit before training: every weight must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:BATCH], Ytr[:BATCH])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))


def macro_f1(logits, y):
    pred = np.array(mx.argmax(logits, axis=1))
    yt = np.array(y)
    f = []
    for c in range(4):
        tp = np.sum((pred == c) & (yt == c))
        fp = np.sum((pred == c) & (yt != c))
        fn = np.sum((pred != c) & (yt == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


best = (math.inf, -1, None)
patience, bad = 25, 0
t0 = time.time()
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(N_TRAIN))
    tl = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(loss, state)
        tl += loss.item()
    vlog = model(Xva)
    vloss = nn.losses.cross_entropy(vlog, Yva, reduction="mean").item()
    rec = {"ep": ep, "lr": round(float(opt.learning_rate), 6), "nll": round(tl / steps_per_epoch, 4),
           "val_nll": round(vloss, 4), "f1m": round(macro_f1(vlog, Yva), 4)}
    if vloss < best[0] - 1e-4:
        best = (vloss, ep, tree_map(lambda a: mx.array(a), model.parameters()))
        bad = 0
        rec["best"] = True
    else:
        bad += 1
    print(json.dumps(rec))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "ep": ep, "since_best": bad}))
        break

model.update(best[2])
mx.eval(model.parameters())
tlog = model(Xte)
print(json.dumps({"event": "restored", "from_ep": best[1], "val_nll": round(best[0], 4),
                  "test_nll": round(nn.losses.cross_entropy(tlog, Yte, reduction="mean").item(), 4),
                  "test_f1m": round(macro_f1(tlog, Yte), 4),
                  "prior_nll": round(float(-np.mean(np.log(np.bincount(ytr, minlength=4)[yte] / N_TRAIN + 1e-9))), 4),
                  "secs": round(time.time() - t0, 1)}))
