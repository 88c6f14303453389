"""Tattoo studio aftercare log: predict days until a fresh tattoo is fully healed.

Two-stage curriculum.  Stage "linework" only sees small single-needle pieces
(easy, low noise); stage "colour" adds big packed-colour pieces whose healing
time is longer and much noisier, so the loss jumps up when the stage starts.
Each stage warms its learning rate up from exactly 0.  Early stopping on the
held-out MAE restores the best weights at the end.  One JSON object per line.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
FEATS = ["area_cm2", "needles", "colour_share", "skin_oil", "aftercare", "age", "on_joint"]


def make_pieces(n, colour):
    area = rng.uniform(4, 30, n) if not colour else rng.uniform(40, 400, n)
    needles = rng.integers(1, 4, n) if not colour else rng.integers(5, 15, n)
    share = rng.uniform(0.0, 0.1, n) if not colour else rng.uniform(0.4, 1.0, n)
    oil = rng.uniform(0, 1, n)
    care = rng.uniform(0, 1, n)
    age = rng.uniform(18, 65, n)
    joint = (rng.uniform(0, 1, n) < 0.3).astype(np.float64)
    days = (
        9.0
        + 2.2 * np.log1p(area)
        + 0.6 * needles
        + 5.0 * share
        + 3.0 * joint
        - 4.0 * care
        + 0.08 * (age - 30)
        + 1.5 * oil * share
    )
    noise = rng.normal(0, 0.8 if not colour else 2.5, n)
    X = np.stack([np.log1p(area), needles, share, oil, care, age / 10.0, joint], 1)
    return X.astype(np.float32), (days + noise).astype(np.float32)


Xa, ya = make_pieces(1400, colour=False)
Xb, yb = make_pieces(1400, colour=True)
Xva, yva = make_pieces(300, colour=False)
Xvb, yvb = make_pieces(300, colour=True)
mu = np.concatenate([Xa, Xb]).mean(0)
sd = np.concatenate([Xa, Xb]).std(0) + 1e-6
norm = lambda X: mx.array((X - mu) / sd)
Y_MEAN = float(np.concatenate([ya, yb]).mean())

stages = [
    ("linework", norm(Xa), mx.array(ya), norm(Xva), mx.array(yva), 160),
    ("colour", norm(np.concatenate([Xa, Xb])), mx.array(np.concatenate([ya, yb])),
     norm(np.concatenate([Xva, Xvb])), mx.array(np.concatenate([yva, yvb])), 220),
]


class HealNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(len(FEATS), 40)
        self.mid = nn.Linear(40, 40)
        self.out = nn.Linear(40, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1) + Y_MEAN


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


mx.random.seed(5)
model = HealNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, huber)

# every trainable tensor must receive gradient
_, g0 = vg(model, stages[0][1][:64], stages[0][2][:64])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

best = {"mae": float("inf"), "params": None, "where": None}
patience_left = 0
BATCH = 64
t0 = time.time()
for stage_name, Xtr, ytr, Xv, yv, steps in stages:
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 2e-4)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    baseline = float(mx.mean(mx.abs(yv - mx.mean(ytr))))
    n = Xtr.shape[0]
    patience_left = 6
    for step in range(steps):
        idx = mx.array(rng.integers(0, n, BATCH))
        lr_now = float(opt.learning_rate)
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == steps - 1:
            mae = float(mx.mean(mx.abs(model(Xv) - yv)))
            rec = {
                "stage": stage_name,
                "step": step,
                "lr": round(lr_now, 6),
                "huber": round(float(loss), 4),
                "val_mae_days": round(mae, 3),
                "mean_guess_mae_days": round(baseline, 3),
            }
            if stage_name == stages[-1][0]:
                if mae < best["mae"] - 1e-3:
                    best.update(mae=mae, where=f"{stage_name}:{step}",
                                params=tree_map(lambda a: mx.array(a), model.parameters()))
                    patience_left = 6
                else:
                    patience_left -= 1
                rec["patience"] = patience_left
            print(json.dumps(rec))
            if stage_name == stages[-1][0] and patience_left == 0:
                print(json.dumps({"event": "early_stop", "stage": stage_name, "step": step}))
                break

model.update(best["params"])
mx.eval(model.parameters())
Xall, yall = stages[-1][3], stages[-1][4]
final = float(mx.mean(mx.abs(model(Xall) - yall)))
print(json.dumps({
    "event": "restored_best", "from": best["where"], "val_mae_days": round(final, 3),
    "check_diff": round(abs(final - best["mae"]), 6), "seconds": round(time.time() - t0, 2),
}))
