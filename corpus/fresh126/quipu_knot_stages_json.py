"""Quipu cord reader: classify the knot digit (0-9) on a cord segment from a
48-point tactile thickness profile. Two stages: clean museum cords first, then
frayed field cords (harder). Each stage gets a fresh optimizer whose learning
rate warms up from exactly 0. Field stage uses early stopping with restore."""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

L = 48
rng = np.random.default_rng(17)
mx.random.seed(17)


def knot_profile(d, noise, shift_max, fray):
    x = np.arange(L, dtype=np.float32)
    c = L / 2 + rng.uniform(-shift_max, shift_max)
    scale = rng.uniform(1.0 - fray, 1.0 + fray)
    p = np.zeros(L, np.float32)
    if d == 1:  # figure-eight knot: two tight lobes
        p += np.exp(-0.5 * ((x - c + 2.0) / 1.1) ** 2) + np.exp(-0.5 * ((x - c - 2.0) / 1.1) ** 2)
    elif d >= 2:  # long knot with d turns
        w = 2.0 + 1.6 * d
        env = np.exp(-0.5 * ((x - c) / (0.5 * w)) ** 4)
        p += env * (0.8 + 0.35 * np.cos(2 * math.pi * d * (x - c) / (2 * w)))
    p *= scale
    p += noise * rng.standard_normal(L).astype(np.float32)
    if fray > 0:
        k = rng.integers(0, 3)
        for _ in range(k):  # loose fibres
            p[rng.integers(0, L)] += rng.uniform(0.3, 0.9)
    return p


def make_set(n, noise, shift_max, fray):
    y = rng.integers(0, 10, size=n)
    X = np.stack([knot_profile(int(d), noise, shift_max, fray) for d in y])
    return mx.array(X), mx.array(y.astype(np.int32))


STAGES = [
    dict(name="museum", noise=0.05, shift=3.0, fray=0.0, epochs=6, peak_lr=0.05),
    dict(name="field", noise=0.22, shift=9.0, fray=0.35, epochs=14, peak_lr=0.03),
]


class Reader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(L, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 10)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Reader()
mx.eval(model.parameters())
BATCH = 64

for si, st in enumerate(STAGES):
    Xtr, ytr = make_set(3200, st["noise"], st["shift"], st["fray"])
    Xva, yva = make_set(800, st["noise"], st["shift"], st["fray"])
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak_lr"], warm), lambda s: mx.array(st["peak_lr"])],
        [warm],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    best_acc, best_params, bad, patience = -1.0, None, 0, 3
    gstep = 0
    for ep in range(1, st["epochs"] + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot, nb = 0.0, 0
        lr_first = float(opt.learning_rate)
        for i in range(0, Xtr.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
            gstep += 1
        logits = model(Xva)
        acc = mx.mean(mx.argmax(logits, axis=1) == yva).item()
        vloss = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        rec = {"stage": st["name"], "epoch": ep, "step": gstep, "lr_at_epoch_start": round(lr_first, 5),
               "train_xent": round(tot / nb, 4), "val_xent": round(vloss, 4), "val_acc": round(acc, 4)}
        print(json.dumps(rec), flush=True)
        if st["name"] == "field":
            if acc > best_acc:
                best_acc, bad = acc, 0
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
                mx.eval(best_params)
            else:
                bad += 1
                if bad >= patience:
                    print(json.dumps({"event": "early_stop", "stage": "field", "epoch": ep,
                                      "best_val_acc": round(best_acc, 4)}), flush=True)
                    break
    if st["name"] == "field" and best_params is not None:
        model.update(best_params)
        mx.eval(model.parameters())
        acc = mx.mean(mx.argmax(model(Xva), axis=1) == yva).item()
        print(json.dumps({"event": "restored_best", "stage": "field", "val_acc": round(acc, 4)}), flush=True)

print(json.dumps({"event": "done", "chance_acc": 0.1}), flush=True)
