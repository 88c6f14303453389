"""Maple syrup colour grade (golden / amber / dark / very dark) from 9 sugarhouse readings.

Three phases: plain training, a group penalty on whole hidden units whose
weight is ramped up (the printed objective rises on purpose), then surgery:
units with a small group norm are cut out, the network is rebuilt narrower
and fine-tuned with a fresh optimizer.  Grades are sampled from a logit law,
so cross-entropy has a floor well above zero.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
GRADES = ["golden", "amber", "dark", "very_dark"]


def sugarbush(n):
    week = rng.uniform(0, 8, n)                  # week of the season
    brix = rng.normal(2.2, 0.5, n)               # sap sugar %
    sap_t = rng.normal(3.0, 2.0, n)              # sap storage temp C
    hours = rng.exponential(10, n)               # hours sap waited
    ro = rng.uniform(0, 1, n)                    # reverse-osmosis concentration share
    fire = rng.normal(0, 1, n)                   # evaporator firing rate (z)
    ph = rng.normal(6.8, 0.3, n)                 # sap pH
    buds = rng.uniform(0, 1, n)                  # bud-break index
    noise = rng.normal(0, 1, n)                  # unrelated channel
    darkness = (0.45 * week + 0.12 * hours * (1 + 0.15 * sap_t)
                - 0.8 * ro + 0.5 * fire ** 2 + 1.5 * buds ** 3
                - 0.6 * (brix - 2.2) - 0.9 * (ph - 6.8))
    logits = -2.2 * (np.abs(darkness[:, None] - np.array([0.4, 1.9, 3.3, 4.9])[None]))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (rng.uniform(0, 1, (n, 1)) > np.cumsum(p, 1)).sum(1).clip(0, 3)
    X = np.stack([week, brix, sap_t, np.log1p(hours), ro, fire, ph, buds, noise], 1)
    return X.astype(np.float32), y.astype(np.int32), p.astype(np.float32)


Xtr, ytr, _ = sugarbush(9000)
Xva, yva, pva = sugarbush(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd)
Xva = mx.array((Xva - mu) / sd)
ytr, yva = mx.array(ytr), mx.array(yva)

majority = np.bincount(np.array(ytr), minlength=4).argmax()
base_acc = float((np.array(yva) == majority).mean())
bayes_acc = float((pva.argmax(1) == np.array(yva)).mean())
bayes_ce = float(-np.log(pva[np.arange(2000), np.array(yva)] + 1e-9).mean())
prior = np.bincount(np.array(ytr), minlength=4) / 9000
prior_ce = float(-np.log(prior[np.array(yva)]).mean())
print(f"val baselines: majority acc {base_acc:.3f} prior CE {prior_ce:.3f} | "
      f"true-probability acc {bayes_acc:.3f} CE {bayes_ce:.3f}")


class GradeNet(nn.Module):
    def __init__(self, w1=96, w2=96):
        super().__init__()
        self.l1 = nn.Linear(9, w1)
        self.l2 = nn.Linear(w1, w2)
        self.head = nn.Linear(w2, 4)

    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.l1(x)))))


def unit_norms(m):
    g1 = mx.sqrt(mx.sum(m.l1.weight ** 2, 1) + m.l1.bias ** 2
                 + mx.sum(m.l2.weight ** 2, 0) + 1e-8)
    g2 = mx.sqrt(mx.sum(m.l2.weight ** 2, 1) + m.l2.bias ** 2
                 + mx.sum(m.head.weight ** 2, 0) + 1e-8)
    return g1, g2


def ce(m, X, y):
    return mx.mean(nn.losses.cross_entropy(m(X), y))


def objective(m, X, y, lam):
    c = ce(m, X, y)
    g1, g2 = unit_norms(m)
    pen = lam * (mx.sum(g1) + mx.sum(g2))
    return c + pen, (c, pen)


def val_metrics(m):
    logits = m(Xva)
    acc = mx.mean(mx.argmax(logits, 1) == yva).item()
    return mx.mean(nn.losses.cross_entropy(logits, yva)).item(), acc


def count(m):
    return sum(v.size for _, v in tree_flatten(m.parameters()))


def train(m, opt, steps, lam_fn, tag, every):
    vg = nn.value_and_grad(m, objective)
    n = Xtr.shape[0]
    for it in range(steps):
        idx = mx.array(rng.integers(0, n, 256))
        lam = lam_fn(it)
        (tot, (c, pen)), g = vg(m, Xtr[idx], ytr[idx], lam)
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state, tot)
        if it % every == 0 or it == steps - 1:
            vce, vacc = val_metrics(m)
            g1, g2 = unit_norms(m)
            alive = int((g1 > 0.05).sum().item() + (g2 > 0.05).sum().item())
            print(f"[{tag}] {it:4d} objective {tot.item():.4f} (ce {c.item():.4f} + "
                  f"group {pen.item():.4f}) lam {lam:.1e} val_ce {vce:.4f} "
                  f"val_acc {vacc:.3f} units>0.05 {alive}")


t0 = time.time()
model = GradeNet()
mx.eval(model.parameters())
print(f"params {count(model)}")

# phase 1: plain training
train(model, optim.Adam(learning_rate=2e-3), 450, lambda i: 0.0, "plain", 150)
p1_ce, p1_acc = val_metrics(model)

# phase 2: group penalty on whole units, weight ramped 0 -> 4e-3 over 500 steps, reported sparsely
LMAX = 4e-3
train(model, optim.Adam(learning_rate=1e-3), 1000,
      lambda i: LMAX * min(1.0, i / 500), "group", 250)

# phase 3: surgery
g1, g2 = unit_norms(model)
keep1 = np.where(np.array(g1) > 0.05 * float(g1.max().item()))[0]
keep2 = np.where(np.array(g2) > 0.05 * float(g2.max().item()))[0]
k1, k2 = mx.array(keep1), mx.array(keep2)
small = GradeNet(len(keep1), len(keep2))
small.l1.weight = model.l1.weight[k1]
small.l1.bias = model.l1.bias[k1]
small.l2.weight = model.l2.weight[k2][:, k1]
small.l2.bias = model.l2.bias[k2]
small.head.weight = model.head.weight[:, k2]
small.head.bias = model.head.bias
mx.eval(small.parameters())
before_ce, before_acc = val_metrics(model)
after_ce, after_acc = val_metrics(small)
print(f"surgery: layer1 {model.l1.weight.shape[0]} -> {len(keep1)} units, "
      f"layer2 {model.l2.weight.shape[0]} -> {len(keep2)} units, params {count(model)} -> {count(small)}")
print(f"surgery: val_ce {before_ce:.4f} -> {after_ce:.4f}, val_acc {before_acc:.3f} -> {after_acc:.3f}")

sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 60),
                              optim.cosine_decay(1e-3, 390, 1e-5)], [60])
train(small, optim.AdamW(learning_rate=sched, weight_decay=1e-4), 450,
      lambda i: 0.0, "narrow", 150)
f_ce, f_acc = val_metrics(small)

print("summary:")
print(f"  wide 96/96 after plain   val_ce {p1_ce:.4f} val_acc {p1_acc:.3f}")
print(f"  narrow {len(keep1)}/{len(keep2)} fine-tuned  val_ce {f_ce:.4f} val_acc {f_acc:.3f}")
print(f"  majority acc {base_acc:.3f} | true-probability acc {bayes_acc:.3f} CE {bayes_ce:.3f}")
print(f"time {time.time() - t0:.1f}s")
