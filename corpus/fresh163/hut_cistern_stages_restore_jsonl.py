"""Mountain-hut cistern triage: tomorrow's water status (0 ample / 1 ration / 2 empty)
from 7 daily readings. Two-stage curriculum (clear-cut days first, then every day incl.
borderline ones), hand-written Nesterov SGD, per-stage early stopping that restores the
best weights. Output is JSON lines."""
import json
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(4163)


def days(n):
    level = rng.uniform(0, 100, n)          # cistern level, % full
    melt = rng.gamma(2.0, 3.0, n)           # snowmelt inflow index
    rain = rng.exponential(4.0, n)          # rain, mm
    guests = rng.integers(5, 80, n)         # guests booked tonight
    temp = rng.normal(6, 5, n)              # air temp, C
    solar = rng.uniform(0, 8, n)            # solar hours (pump power)
    pump = rng.uniform(0, 6, n)             # hours pump ran yesterday
    balance = (level + 2.2 * melt * (temp > 0) + 1.5 * rain + 1.8 * pump * (solar > 2)
               - 0.9 * guests + rng.normal(0, 4, n))
    y = np.where(balance > 35, 0, np.where(balance > 5, 1, 2))
    margin = np.minimum(np.abs(balance - 35), np.abs(balance - 5))
    X = np.stack([level, melt, rain, guests, temp, solar, pump], 1).astype(np.float32)
    return X, y.astype(np.int32), margin


Xtr, ytr, mtr = days(3000)
Xva, yva, _ = days(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = mx.array((Xva - mu) / sd)
yva = mx.array(yva)


class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 64)
        self.b = nn.Linear(64, 32)
        self.c = nn.Linear(32, 3)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x)))))


mx.random.seed(5)
net = Triage()


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(net, xent)
velocity = tree_map(mx.zeros_like, net.trainable_parameters())
LR, MOM, BS = 0.05, 0.9, 100


def nesterov_step(grads):
    global velocity
    velocity = tree_map(lambda v, g: MOM * v + g, velocity, grads)
    upd = tree_map(lambda p, v, g: p - LR * (g + MOM * v),
                   net.trainable_parameters(), velocity, grads)
    net.update(upd)
    mx.eval(net.parameters(), velocity)


def evaluate():
    logits = net(Xva)
    nll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    acc = (mx.argmax(logits, 1) == yva).astype(mx.float32).mean().item()
    return nll, acc


# gradient audit before training
_, g = vg(net, mx.array(Xtr[:BS]), mx.array(ytr[:BS]))
norms = {k: round(mx.linalg.norm(v).item(), 5) for k, v in tree_flatten(g)}
print(json.dumps({"event": "grad_audit", "norms": norms,
                  "all_nonzero": all(n > 0 for n in norms.values())}))

stages = [("clear_days", mtr > 12.0, 30, 4), ("all_days", np.ones_like(mtr, bool), 40, 6)]
for sname, mask, max_epochs, patience in stages:
    xs, ys = Xtr[mask], ytr[mask]
    n = len(ys)
    best, best_ep, wait = float("inf"), 0, 0
    best_params = None
    for epoch in range(1, max_epochs + 1):  # epoch counter restarts each stage
        order = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - BS + 1, BS):
            ib = order[s:s + BS]
            loss, grads = vg(net, mx.array(xs[ib]), mx.array(ys[ib]))
            nesterov_step(grads)
            tot += loss.item()
            cnt += 1
        vnll, vacc = evaluate()
        print(json.dumps({"stage": sname, "epoch": epoch, "n": int(n),
                          "train_xent": round(tot / cnt, 4), "val_nll": round(vnll, 4),
                          "val_acc_pct": round(100 * vacc, 2)}))
        if vnll < best - 1e-4:
            best, best_ep, wait = vnll, epoch, 0
            best_params = tree_map(lambda p: mx.array(p), net.parameters())
            mx.eval(best_params)
        else:
            wait += 1
            if wait >= patience:
                print(json.dumps({"event": "early_stop", "stage": sname, "epoch": epoch,
                                  "best_epoch": best_ep}))
                break
    net.update(best_params)
    mx.eval(net.parameters())
    rnll, racc = evaluate()
    print(json.dumps({"event": "restore", "stage": sname, "best_epoch": best_ep,
                      "val_nll": round(rnll, 4), "val_acc_pct": round(100 * racc, 2),
                      "diff_vs_best": round(abs(rnll - best), 6)}))

majority = max(np.bincount(np.array(yva), minlength=3)) / yva.size
print(json.dumps({"event": "summary", "val_acc_pct": round(100 * racc, 2),
                  "majority_class_pct": round(100 * float(majority), 2)}))
sys.stdout.flush()
