"""Vowel identification from formant measurements (Peterson & Barney style).

Stage A: the four corner vowels only.  Stage B: all ten vowels (harder, the
loss jumps up when it starts).  Each stage warms Lion's learning rate up from
exactly 0.  One JSON object per report line.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

# mean formants (Hz) for adult male speakers: F1, F2, F3
VOWELS = {
    "iy": (270, 2290, 3010), "ih": (390, 1990, 2550), "eh": (530, 1840, 2480),
    "ae": (660, 1720, 2410), "ah": (520, 1190, 2390), "aa": (730, 1090, 2440),
    "ao": (570, 840, 2410), "uh": (440, 1020, 2240), "uw": (300, 870, 2240),
    "er": (490, 1350, 1690),
}
NAMES = list(VOWELS)
CORNERS = ["iy", "ae", "aa", "uw"]


def speak(vowel_ids, n):
    feats, labels = [], []
    for _ in range(n):
        v = random.choice(vowel_ids)
        scale = random.choice([1.0, 1.17, 1.3]) * random.uniform(0.95, 1.05)  # man/woman/child tract
        f0 = random.gauss(130, 15) * scale ** 2.2
        f1, f2, f3 = (f * scale * random.gauss(1.0, 0.06) for f in VOWELS[NAMES[v]])
        feats.append([math.log(f0), math.log(f1), math.log(f2), math.log(f3)])
        labels.append(v)
    return mx.array(feats), mx.array(labels)


all_ids = list(range(len(NAMES)))
corner_ids = [NAMES.index(c) for c in CORNERS]
Xtr, Ytr = speak(all_ids, 6000)
Xva, Yva = speak(all_ids, 1500)
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd


class VowelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, len(NAMES))

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


net = VowelNet()
mx.eval(net.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(net, loss_fn)

# one-off check: every parameter receives gradient
_, g0 = grad_fn(net, Xtr[:256], Ytr[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(json.dumps({"event": "grad_check", "n_tensors": len(tree_flatten(g0)), "zero_grad": zero}))


def subset(X, Y, ids):
    keep = mx.array([int(y) in ids for y in Y.tolist()])
    idx = mx.array([i for i, k in enumerate(keep.tolist()) if k])
    return X[idx], Y[idx]


stages = [("A_corners", corner_ids, 300, 2e-3), ("B_all_ten", all_ids, 900, 1e-3)]
for stage, ids, steps, peak in stages:
    Xs, Ys = subset(Xtr, Ytr, ids)
    Xv, Yv = subset(Xva, Yva, ids)
    warm = steps // 5
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    chance = 1.0 / len(ids)
    for step in range(steps):
        idx = mx.random.randint(0, Xs.shape[0], (128,))
        loss, grads = grad_fn(net, Xs[idx], Ys[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps - 1:
            logits = net(Xv)
            acc = (mx.argmax(logits, axis=1) == Yv).astype(mx.float32).mean().item()
            vloss = nn.losses.cross_entropy(logits, Yv, reduction="mean").item()
            print(json.dumps({
                "stage": stage, "step": step, "lr": round(float(opt.learning_rate.item()), 7),
                "loss": round(loss.item(), 4), "val_ce": round(vloss, 4),
                "val_acc_pct": round(100 * acc, 1), "chance_pct": round(100 * chance, 1),
                "ln_classes": round(math.log(len(ids)), 3),
            }))

final = (mx.argmax(net(Xva), axis=1) == Yva).astype(mx.float32).mean().item()
print(f"final 10-vowel accuracy {100 * final:.1f}% (chance 10.0%)")
