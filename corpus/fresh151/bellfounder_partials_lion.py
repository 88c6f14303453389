"""Bell foundry: predict how far each of the five principal partials of a
freshly cast bell sits from true (in cents) from its casting sheet, so the
tuner knows how much metal to turn off on the lathe.

Stage A trains on sound castings only; stage B adds castings with known flaws
(porosity, thin waist) whose partials wander much further - loss jumps up at
the switch on purpose.  Early stopping (on stage-B validation) restores the
best weights at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
PARTIALS = ["hum", "prime", "tierce", "quint", "nominal"]


def cast_bells(n, flawed_frac):
    diam = rng.uniform(0.35, 1.8, n)            # m
    thick = rng.uniform(0.065, 0.085, n)        # wall/diameter ratio
    lip = rng.uniform(0.9, 1.15, n)             # relative soundbow thickness
    tin = rng.uniform(20.0, 24.0, n)            # % tin in bronze
    waist = rng.uniform(-1.0, 1.0, n)           # profile shape code
    crown = rng.uniform(0.45, 0.6, n)           # crown height / diameter
    flaw = (rng.uniform(size=n) < flawed_frac).astype(np.float64)
    poros = flaw * rng.uniform(0.2, 1.0, n)
    x = np.stack([np.log(diam), (thick - 0.075) / 0.006, lip - 1.0, (tin - 22) / 1.2,
                  waist, (crown - 0.52) / 0.04, poros], axis=1)
    base = np.stack([
        -35 * x[:, 1] + 18 * x[:, 4] + 40 * x[:, 5],
        -22 * x[:, 1] + 60 * x[:, 2] - 9 * x[:, 3],
        25 * x[:, 4] ** 2 - 12 + 30 * x[:, 2] * x[:, 1],
        14 * x[:, 3] - 20 * x[:, 2] + 8 * x[:, 0],
        -18 * x[:, 1] + 10 * np.sin(2 * x[:, 4]) + 5 * x[:, 0],
    ], axis=1)
    wander = poros[:, None] * np.array([70.0, -45.0, 95.0, -30.0, 55.0]) * (1 + x[:, 4:5])
    y = base + wander + rng.normal(0, 2.0, base.shape)
    return x.astype(np.float32), y.astype(np.float32)


xa, ya = cast_bells(1500, 0.0)
xb, yb = cast_bells(1500, 0.45)
xva, yva = cast_bells(300, 0.0)
xvb, yvb = cast_bells(300, 0.45)
SCALE = 40.0  # cents per output unit


class PartialNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 5)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y / SCALE, delta=1.0, reduction="mean")


def mae_cents(model, x, y):
    pred = model(mx.array(x)) * SCALE
    return np.abs(np.array(pred) - y).mean(axis=0)


model = PartialNet()
mx.eval(model.parameters())
steps_per_epoch = 1500 // 50
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, warm), optim.cosine_decay(3e-4, 58 * steps_per_epoch, 2e-5)],
    [warm])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

tol = np.array([4.0, 3.0, 6.0, 6.0, 2.0])  # foundry tolerance (cents), printed for reference
print("tolerance (cents) " + " ".join(f"{p:>7s}" for p in PARTIALS))
print("                  " + " ".join(f"{t:7.1f}" for t in tol))
print(f"{'ep':>3} {'stg':>3} {'lr':>9} {'train':>8} | " + " ".join(f"{p:>7s}" for p in PARTIALS) + " | flawed-val  wait")

best, best_ep, wait, patience = math.inf, -1, 0, 8
snapshot = None
t0 = time.time()
for ep in range(1, 61):
    stage = "A" if ep <= 20 else "B"
    if ep == 21:
        wait, best = 0, math.inf   # new stage, new early-stopping window
        print("---- stage B: flawed castings enter the training set ----")
    X, Y = (xa, ya) if stage == "A" else (np.concatenate([xa, xb]), np.concatenate([ya, yb]))
    perm = rng.permutation(len(X))[:1500]
    tot = 0.0
    for i in range(0, 1500, 50):
        idx = perm[i:i + 50]
        loss, g = vg(model, mx.array(X[idx]), mx.array(Y[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    clean = mae_cents(model, xva, yva)
    flawed = float(mae_cents(model, xvb, yvb).mean())
    lr_now = opt.learning_rate.item()
    if stage == "B":
        if flawed < best - 0.05:
            best, best_ep, wait = flawed, ep, 0
            snapshot = tree_map(lambda a: a, model.parameters())
        else:
            wait += 1
    print(f"{ep:3d} {stage:>3} {lr_now:9.2e} {tot / steps_per_epoch:8.4f} | "
          + " ".join(f"{v:7.2f}" for v in clean) + f" | {flawed:10.2f}  {wait:4d}")
    if stage == "B" and wait >= patience:
        print(f"early stop at epoch {ep}: no flawed-val gain for {patience} epochs")
        break

model.update(snapshot)
mx.eval(model.parameters())
clean = mae_cents(model, xva, yva)
flawed = mae_cents(model, xvb, yvb)
print(f"restored weights from epoch {best_ep} ({time.time() - t0:.1f}s)")
print("final MAE (cents)  " + " ".join(f"{p}={c:.2f}" for p, c in zip(PARTIALS, clean)) + "  [sound]")
print("                   " + " ".join(f"{p}={c:.2f}" for p, c in zip(PARTIALS, flawed)) + "  [flawed mix]")
print("within tolerance on sound bells: " + ", ".join(p for p, c, t in zip(PARTIALS, clean, tol) if c <= t))
