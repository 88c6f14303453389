"""Tea factory: predict moisture loss (%) of withering troughs.

Stage "dry_season" trains on ordinary batches; stage "monsoon" adds humid,
heavy-load batches that follow a steeper law. Each stage restarts its own
epoch counter and its learning rate ramps up again from exactly 0.
Output is one JSON object per line.
"""
import json
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = random.Random(7)
mx.random.seed(7)

FEATURES = ["leaf_temp_c", "airflow_m3h", "rel_hum_pct", "hours", "load_kg_m2", "assam_share"]


def make_batch(n, monsoon):
    rows, ys = [], []
    for _ in range(n):
        t = rng.uniform(22, 34)
        air = rng.uniform(8, 20)
        rh = rng.uniform(78, 96) if monsoon else rng.uniform(55, 80)
        hrs = rng.uniform(8, 18)
        load = rng.uniform(24, 34) if monsoon else rng.uniform(16, 26)
        assam = rng.uniform(0, 1)
        # made-up withering law (moisture loss, % of fresh weight)
        drive = 0.9 * (t - 20) + 0.45 * air - 0.32 * (rh - 60) - 0.35 * (load - 20)
        y = 18 + 1.6 * hrs * (1 / (1 + math.exp(-drive / 6))) + 3.0 * assam
        if monsoon:
            y -= 0.004 * (rh - 75) ** 2 * (load - 22)
        y += rng.gauss(0, 0.6 if not monsoon else 0.9)
        rows.append([(t - 28) / 4, (air - 14) / 4, (rh - 75) / 12, (hrs - 13) / 3, (load - 25) / 5, assam - 0.5])
        ys.append(y)
    return mx.array(rows), mx.array(ys)


class WitherNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + 40.0


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = WitherNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
step_fn = nn.value_and_grad(model, mse)

# gradient audit before training: every weight must receive signal
xa, ya = make_batch(64, False)
_, g0 = step_fn(model, xa, ya)
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

dry_x, dry_y = make_batch(3000, False)
wet_x, wet_y = make_batch(3000, True)
val = {"dry_season": make_batch(600, False), "monsoon": make_batch(600, True)}

stages = [
    ("dry_season", dry_x, dry_y, 8, 3e-2),
    ("monsoon", mx.concatenate([dry_x, wet_x]), mx.concatenate([dry_y, wet_y]), 10, 2e-2),
]
BATCH = 64
t0 = time.time()
for stage, X, Y, epochs, peak in stages:
    n = X.shape[0]
    steps_per_epoch = n // BATCH
    total = steps_per_epoch * epochs
    warm = steps_per_epoch  # one epoch of linear ramp from exactly 0
    k = 0
    for epoch in range(epochs):
        perm = mx.random.permutation(n)
        run = 0.0
        for b in range(steps_per_epoch):
            if k < warm:
                lr = peak * k / warm
            else:
                lr = peak * 0.5 * (1 + math.cos(math.pi * (k - warm) / (total - warm)))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            k += 1
        rec = {"stage": stage, "epoch": epoch, "lr_end": round(lr, 5), "train_mse": round(run / steps_per_epoch, 4)}
        for vname, (vx, vy) in val.items():
            pred = model(vx)
            mae = mx.mean(mx.abs(pred - vy)).item()
            base = mx.mean(mx.abs(vy - mx.mean(Y))).item()
            rec[f"{vname}_mae_pp"] = round(mae, 3)
            rec[f"{vname}_mean_baseline_pp"] = round(base, 3)
        print(json.dumps(rec))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1)}))
