"""Glassblowing studio: will a blown vessel come out of the annealer sound, strained or cracked?

Three-fold cross-validation of a small MLP on synthetic shop-log records.
Every fold starts a fresh model and a fresh warmup that begins at lr = 0.
Progress is written as JSON lines; a fold table closes the run.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1723)
N = 2400
FEATS = ["coe_mismatch", "gather_g", "wall_mm", "soak_C", "soak_min", "cool_C_per_h", "draft", "frit_share"]


def make_shop_log(n):
    coe = rng.normal(0.0, 1.0, n)            # expansion mismatch with the colour (ppm, centred)
    gather = rng.lognormal(6.0, 0.35, n)     # grams of glass
    wall = rng.uniform(2.0, 9.0, n)          # wall thickness mm
    soak_t = rng.normal(482.0, 8.0, n)       # annealer soak temperature
    soak_m = rng.uniform(20.0, 120.0, n)     # soak minutes
    cool = rng.uniform(20.0, 110.0, n)       # cooling rate C/h
    draft = rng.exponential(1.0, n)          # door draft index
    frit = rng.beta(2.0, 5.0, n)             # share of colour frit
    stress = (0.9 * np.abs(coe) * frit * 3.0
              + 0.035 * cool * (wall / 5.0) ** 2
              - 0.018 * soak_m
              + 0.08 * np.abs(soak_t - 482.0) / 8.0
              + 0.45 * draft
              + 0.25 * np.log(gather / 400.0)
              + rng.normal(0.0, 0.35, n))
    q1, q2 = np.quantile(stress, [0.55, 0.85])
    y = np.where(stress < q1, 0, np.where(stress < q2, 1, 2))
    X = np.stack([coe, gather, wall, soak_t, soak_m, cool, draft, frit], 1)
    return X.astype(np.float32), y.astype(np.int32)


X_all, y_all = make_shop_log(N)
order = rng.permutation(N)
folds = np.array_split(order, 3)


class AnnealNet(nn.Module):
    def __init__(self, d_in, width=48, n_cls=3):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h))
        return self.out(h)


def xent(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


EPOCHS, BATCH, PEAK = 30, 64, 3e-3
summary = []
t0 = time.time()
for k in range(3):
    val_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    mu = X_all[tr_idx].mean(0)
    sd = X_all[tr_idx].std(0) + 1e-6
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[val_idx] - mu) / sd)
    yva = mx.array(y_all[val_idx])
    base_pct = 100.0 * np.bincount(y_all[tr_idx], minlength=3).max() / len(tr_idx)
    base_val_pct = 100.0 * float((y_all[val_idx] == np.bincount(y_all[tr_idx]).argmax()).mean())

    mx.random.seed(100 + k)
    model = AnnealNet(len(FEATS))
    steps_per_ep = math.ceil(len(tr_idx) / BATCH)
    total = EPOCHS * steps_per_ep
    warm = 3 * steps_per_ep
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, warm), optim.cosine_decay(PEAK, total - warm, 1e-5)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, xent)

    if k == 0:
        _, g0 = step_fn(model, Xtr[:256], ytr[:256])
        zero = [name for name, g in tree_flatten(g0) if float(mx.abs(g).sum()) == 0.0]
        print(json.dumps({"audit": "grad_nonzero", "n_tensors": len(tree_flatten(g0)), "zero": zero}))

    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr_idx)))
        run, nb = 0.0, 0
        for s in range(0, len(tr_idx), BATCH):
            ib = perm[s:s + BATCH]
            loss, grads = step_fn(model, Xtr[ib], ytr[ib])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        if ep % 3 == 0 or ep == 1:
            logits = model(Xva)
            vloss = nn.losses.cross_entropy(logits, yva, reduction="mean")
            acc = mx.mean(mx.argmax(logits, -1) == yva)
            mx.eval(vloss, acc)
            print(json.dumps({"fold": k + 1, "ep": ep, "lr": round(float(opt.learning_rate), 6),
                              "xent": round(run / nb, 4), "val_xent": round(vloss.item(), 4),
                              "acc_pct": round(100 * acc.item(), 2), "base_pct": round(base_val_pct, 2)}))
    summary.append((k + 1, vloss.item(), 100 * acc.item(), base_val_pct))

print("fold | val_xent | acc %  | majority %")
for f, vl, a, b in summary:
    print(f"{f:>4} | {vl:8.4f} | {a:6.2f} | {b:6.2f}")
m_acc = sum(s[2] for s in summary) / 3
m_base = sum(s[3] for s in summary) / 3
print(f"mean | {sum(s[1] for s in summary) / 3:8.4f} | {m_acc:6.2f} | {m_base:6.2f}   ({time.time() - t0:.1f}s)")
