"""Pretzel bakery: crust-colour grade of a tray from its oven log.

Each tray leaves a 24-reading log (oven-air temperature, belt speed). The grade
(0 pale, 1 golden, 2 mahogany, 3 scorched) follows how much heat the lye-dipped
dough soaked up. Stage "line_a" learns from the old, clean thermocouple. Stage
"line_b" is the new, noisy probe (offset drift, dropouts): the recurrent core is
kept frozen and only the input projection and the grade head are re-fitted.
Every stage warms its learning rate up from exactly 0. One JSON object per line.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

T = 24
rng = np.random.default_rng(2026)


def oven_logs(n, noisy):
    base = rng.uniform(205, 250, (n, 1))
    ramp = rng.uniform(-1.2, 1.2, (n, 1)) * np.arange(T)[None, :]
    bump_at = rng.integers(4, 20, (n, 1))
    bump = rng.uniform(0, 25, (n, 1)) * np.exp(-0.5 * ((np.arange(T)[None, :] - bump_at) / 2.0) ** 2)
    temp = base + ramp + bump + rng.normal(0, 2.0, (n, T))
    speed = rng.uniform(0.7, 1.3, (n, 1)) + rng.normal(0, 0.02, (n, T))
    heat = np.sum(np.maximum(temp - 200.0, 0.0) / speed, 1) / T      # browning index
    heat = heat + rng.normal(0, 1.5, n)
    grade = np.digitize(heat, [22.0, 38.0, 56.0])
    seen = temp.copy()
    if noisy:                                  # new probe: offset, gain, dropouts
        seen = 1.07 * seen - 9.0 + rng.normal(0, 4.0, (n, T))
        drop = rng.random((n, T)) < 0.08
        seen[drop] = 0.0
    x = np.stack([(seen - 225.0) / 25.0, (speed - 1.0) / 0.2], -1).astype(np.float32)
    return mx.array(x), mx.array(grade.astype(np.int32))


class TrayReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, 16)
        self.core = nn.GRU(16, 40)
        self.head = nn.Linear(40, 4)

    def __call__(self, x):
        h = self.core(nn.gelu(self.inp(x)))
        return self.head(h[:, -1, :])


def xent(model, x, g):
    return nn.losses.cross_entropy(model(x), g, reduction="mean")


def accuracy(model, x, g):
    return float(mx.mean(model(x).argmax(-1) == g))


mx.random.seed(7)
model = TrayReader()
stages = [
    dict(name="line_a", noisy=False, steps=240, peak=4e-3, freeze=[]),
    dict(name="line_b", noisy=True, steps=200, peak=3e-3, freeze=["core"]),
]
t0 = time.time()
for st in stages:
    xtr, gtr = oven_logs(3000, st["noisy"])
    xva, gva = oven_logs(800, st["noisy"])
    model.unfreeze()
    if "core" in st["freeze"]:
        model.core.freeze()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak"], 40),
         optim.cosine_decay(st["peak"], st["steps"] - 40, 1e-4)], [40])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    lg = nn.value_and_grad(model, xent)
    core_before = [v for _, v in tree_flatten(model.core.parameters())]
    mx.eval(core_before)
    _, g0 = lg(model, xtr[:128], gtr[:128])
    nz = {k: round(float(mx.sqrt(mx.sum(v * v))), 4) for k, v in tree_flatten(g0)}
    print(json.dumps({"stage": st["name"], "event": "grad_audit",
                      "trainable": len(nz), "zero_norm": [k for k, v in nz.items() if v == 0.0]}))
    print(json.dumps({"stage": st["name"], "event": "start", "val_acc_before": round(accuracy(model, xva, gva), 4),
                      "majority_class_acc": round(float(np.bincount(np.array(gva)).max() / gva.shape[0]), 4)}))
    run = 0.0
    for step in range(1, st["steps"] + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], 80))
        loss, grads = lg(model, xtr[idx], gtr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if step == 1 else 0.9 * run + 0.1 * loss.item()
        if step == 1 or step % 30 == 0:
            rec = {"stage": st["name"], "step": step, "lr": round(float(opt.learning_rate), 6),
                   "xent_ema": round(run, 4)}
            if step % 60 == 0:
                rec["val_xent"] = round(float(xent(model, xva, gva)), 4)
                rec["val_acc"] = round(accuracy(model, xva, gva), 4)
            print(json.dumps(rec))
    drift = sum(float(mx.abs(a - b).max()) for a, b in
                zip(core_before, [v for _, v in tree_flatten(model.core.parameters())]))
    print(json.dumps({"stage": st["name"], "event": "end", "val_acc": round(accuracy(model, xva, gva), 4),
                      "core_max_abs_change": round(drift, 6), "secs": round(time.time() - t0, 1)}))
model.unfreeze()
n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "done", "params": n_par, "wall_s": round(time.time() - t0, 1)}))
