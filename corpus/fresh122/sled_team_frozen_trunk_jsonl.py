"""Sled-dog kennel: first learn a trunk on leg-split times, then reuse it frozen
for a 3-way "is this dog ready for the race" call (ready / rest / vet check).

Stage 1: trunk + regression head predict the dog's 10 km split time (minutes).
Stage 2: trunk frozen, a fresh classifier head trained with SGD + momentum whose
         learning rate warms up from exactly 0.  The printed loss is an EMA with
         bias correction.  Everything goes out as JSON lines.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def emit(**kw):
    print(json.dumps(kw, sort_keys=False), flush=True)


rng = np.random.default_rng(7)
N = 9000
# features: age (y), weight (kg), resting HR, last-week km, paw score, sleep h, temp C
age = rng.uniform(1.5, 9.0, N)
weight = rng.normal(24, 3, N)
rest_hr = rng.normal(70, 9, N)
week_km = rng.gamma(4.0, 30.0, N)
paw = rng.uniform(0, 1, N)
sleep = rng.normal(11, 1.5, N)
temp = rng.normal(-12, 8, N)
X = np.stack([age, weight, rest_hr, week_km, paw, sleep, temp], 1).astype(np.float32)

fatigue = 0.004 * week_km + 0.03 * (rest_hr - 70) - 0.25 * (sleep - 11) + 0.9 * (paw < 0.2)
split = (28 + 0.35 * (age - 4) ** 2 + 0.15 * (weight - 24) + 1.6 * fatigue
         + 0.05 * np.abs(temp + 10) + rng.normal(0, 0.6, N)).astype(np.float32)
# readiness from the same latent fatigue plus paw trouble
score = fatigue + rng.gumbel(0, 0.35, N)
ready = np.where(paw < 0.12, 2, np.where(score > 0.9, 1, 0)).astype(np.int32)

mu, sd = X.mean(0), X.std(0)
Xs = (X - mu) / sd
s_mu, s_sd = split.mean(), split.std()
ys = (split - s_mu) / s_sd
ntr = 7500
Xtr, Xte = mx.array(Xs[:ntr]), mx.array(Xs[ntr:])
ytr, yte = mx.array(ys[:ntr]), mx.array(ys[ntr:])
ctr, cte = mx.array(ready[:ntr]), mx.array(ready[ntr:])
emit(event="data", train=ntr, test=N - ntr,
     class_share=[round(float((ready == k).mean()), 3) for k in range(3)],
     split_sd_min=round(float(s_sd), 3))


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class Net(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.trunk = Trunk()
        self.head = nn.Linear(64, out)

    def __call__(self, x):
        return self.head(self.trunk(x))


def leaf_report(grads, tag):
    flat = tree_flatten(grads)
    zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    emit(event="grad_check", stage=tag, leaves=len(flat), zero_leaves=zero)


def batches(n, bs, rs):
    perm = rs.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


# ---------------- stage 1: split-time regression ----------------
mx.random.seed(1)
reg = Net(1)
opt1 = optim.Adam(learning_rate=2e-3)


def reg_loss(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y)


reg_vg = nn.value_and_grad(reg, reg_loss)
rs = np.random.default_rng(3)
t0 = time.time()
first = True
for ep in range(1, 7):
    tot, nb = 0.0, 0
    for idx in batches(ntr, 64, rs):
        loss, g = reg_vg(reg, Xtr[idx], ytr[idx])
        if first:
            leaf_report(g, "split_regression")
            first = False
        opt1.update(reg, g)
        mx.eval(reg.parameters(), opt1.state, loss)
        tot += loss.item()
        nb += 1
    pred = reg(Xte).squeeze(-1)
    rmse_min = float(mx.sqrt(mx.mean((pred - yte) ** 2))) * float(s_sd)
    emit(event="stage1", epoch=ep, train_mse_std=round(tot / nb, 4),
         test_rmse_min=round(rmse_min, 3), secs=round(time.time() - t0, 1))

# ---------------- stage 2: readiness classifier on the frozen trunk ----------------
clf = Net(3)
clf.trunk.update(reg.trunk.parameters())       # reuse the learned features
clf.trunk.freeze()                              # on purpose: only the head trains
trunk_before = [np.array(v) for _, v in tree_flatten(clf.trunk.parameters())]
n_train = sum(v.size for _, v in tree_flatten(clf.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(clf.parameters()))
emit(event="freeze", trainable=n_train, total=n_all)

warm = optim.linear_schedule(0.0, 0.05, 150)     # first update has lr 0
sched = optim.join_schedules([warm, optim.cosine_decay(0.05, 1500, 1e-3)], [150])
opt2 = optim.SGD(learning_rate=sched, momentum=0.9)


def clf_loss(m, x, c):
    return nn.losses.cross_entropy(m(x), c, reduction="mean")


clf_vg = nn.value_and_grad(clf, clf_loss)
ema, beta, step = 0.0, 0.98, 0
first = True
chance = float(-np.log(np.bincount(ready[:ntr]) / ntr) @ (np.bincount(ready[:ntr]) / ntr))
for ep in range(1, 9):
    for idx in batches(ntr, 48, rs):
        lr_now = float(opt2.learning_rate) if step > 0 else float(sched(0))
        loss, g = clf_vg(clf, Xtr[idx], ctr[idx])
        if first:
            leaf_report(g, "readiness_head")
            emit(event="first_update", lr=lr_now)
            first = False
        opt2.update(clf, g)
        mx.eval(clf.parameters(), opt2.state, loss)
        step += 1
        ema = beta * ema + (1 - beta) * loss.item()
    logits = clf(Xte)
    te_ce = float(nn.losses.cross_entropy(logits, cte, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, -1) == cte)) * 100
    emit(event="stage2", epoch=ep, step=step, lr=round(float(opt2.learning_rate), 5),
         train_ce_ema=round(ema / (1 - beta ** step), 4), test_ce=round(te_ce, 4),
         test_acc_pct=round(acc, 2), prior_ce=round(chance, 4),
         secs=round(time.time() - t0, 1))

trunk_after = [np.array(v) for _, v in tree_flatten(clf.trunk.parameters())]
moved = max(float(np.abs(a - b).max()) for a, b in zip(trunk_before, trunk_after))
emit(event="done", trunk_max_change=moved, final_test_acc_pct=round(acc, 2))
