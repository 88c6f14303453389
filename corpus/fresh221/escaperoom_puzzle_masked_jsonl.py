"""Escape-room operator log: predict minutes a team spends on each of 5 puzzles.

Not every puzzle time was recorded (staff forgot to press the tablet button),
so the loss is a masked mean, and each team row carries a reliability weight
(bigger, logged-by-camera teams count more).  Stage 1 trains on the three
"easy" rooms only; stage 2 opens the two hard rooms too.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2214)
mx.random.seed(2214)
N_ROOMS, N_PUZ, N_FEAT = 5, 5, 6


def make_teams(n):
    room = rng.integers(0, N_ROOMS, size=n)
    size = rng.integers(2, 7, size=n).astype(np.float32)
    exp = rng.gamma(2.0, 1.5, size=n).astype(np.float32)  # past rooms played
    age = rng.normal(31, 8, size=n).astype(np.float32)
    hints = rng.poisson(1.5, size=n).astype(np.float32)
    late_slot = (rng.random(n) < 0.3).astype(np.float32)
    difficulty = np.array([0.6, 0.8, 1.0, 1.6, 2.1], np.float32)[room]
    base = np.array([4.0, 6.0, 9.0, 7.0, 11.0], np.float32)
    team_speed = 1.0 / (1.0 + 0.12 * exp) * (1.0 + 0.25 / size) * (1 + 0.1 * late_slot)
    mins = base[None, :] * difficulty[:, None] * team_speed[:, None]
    mins = mins * np.exp(-0.08 * hints)[:, None] + 0.02 * (age[:, None] - 31) ** 2 / 10
    mins += rng.normal(0, 0.6, size=mins.shape)
    recorded = (rng.random(mins.shape) > 0.22).astype(np.float32)
    weight = np.where(size >= 4, 1.5, 1.0).astype(np.float32)
    weight *= np.where(rng.random(n) < 0.15, 0.4, 1.0)  # shaky handwritten logs
    feats = np.stack([size, exp, age, hints, late_slot, difficulty], 1)
    return feats, mins.astype(np.float32), recorded, weight, room


Xtr, Ytr, Mtr, Wtr, Rtr = make_teams(2400)
Xva, Yva, Mva, Wva, Rva = make_teams(600)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
ymu = (Ytr * Mtr).sum(0) / Mtr.sum(0)
ysd = np.sqrt((((Ytr - ymu) ** 2) * Mtr).sum(0) / Mtr.sum(0))


def prep(X, Y):
    return mx.array((X - mu) / sd), mx.array((Y - ymu) / ysd)


Xtr_m, Ytr_m = prep(Xtr, Ytr)
Xva_m, Yva_m = prep(Xva, Yva)
Mtr_m, Wtr_m = mx.array(Mtr), mx.array(Wtr)
Mva_m, Wva_m = mx.array(Mva), mx.array(Wva)


class PuzzleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.room_emb = nn.Embedding(N_ROOMS, 4)
        self.body = nn.Sequential(nn.Linear(N_FEAT + 4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, N_PUZ)

    def __call__(self, x, room):
        h = mx.concatenate([x, self.room_emb(room)], axis=-1)
        return self.out(self.body(h))


def masked_weighted_mse(pred, y, m, w):
    # weight of each cell = team weight * recorded flag; divide by the total weight
    cell_w = m * w[:, None]
    return (cell_w * (pred - y) ** 2).sum() / mx.maximum(cell_w.sum(), 1e-6)


model = PuzzleNet()
mx.eval(model.parameters())

STEPS_PER_STAGE = 180
warm = optim.linear_schedule(0.0, 3e-3, 40)  # starts at exactly 0
cos = optim.cosine_decay(3e-3, 2 * STEPS_PER_STAGE - 40, end=2e-4)
lr_sched = optim.join_schedules([warm, cos], [40])
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-3)


def loss_fn(mdl, x, room, y, m, w):
    return masked_weighted_mse(mdl(x, room), y, m, w)


vg = nn.value_and_grad(model, loss_fn)

# baseline: predict the training weighted mean of every puzzle (0 in standard units)
zeros_va = mx.zeros_like(Yva_m)
base_va = masked_weighted_mse(zeros_va, Yva_m, Mva_m, Wva_m).item()

easy_idx = np.nonzero(Rtr < 3)[0]
all_idx = np.arange(len(Rtr))
Rtr_m, Rva_m = mx.array(Rtr), mx.array(Rva)

# gradient audit before training: every parameter must receive signal
_, g0 = vg(model, Xtr_m[:64], Rtr_m[:64], Ytr_m[:64], Mtr_m[:64], Wtr_m[:64])
from mlx.utils import tree_flatten

zero_grads = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "n_tensors": len(tree_flatten(g0)), "zero_grad": zero_grads}))

t0 = time.time()
step = 0
BATCH = 96
for stage, pool in ((1, easy_idx), (2, all_idx)):
    print(json.dumps({"event": "stage", "stage": stage, "rooms": sorted(set(Rtr[pool].tolist())), "rows": int(len(pool))}))
    for s in range(STEPS_PER_STAGE):
        b = rng.choice(pool, size=BATCH, replace=False)
        bi = mx.array(b)
        loss, grads = vg(model, Xtr_m[bi], Rtr_m[bi], Ytr_m[bi], Mtr_m[bi], Wtr_m[bi])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr_now = float(lr_sched(mx.array(step)))
        step += 1
        if s % 30 == 0 or s == STEPS_PER_STAGE - 1:
            pred_va = model(Xva_m, Rva_m)
            va = masked_weighted_mse(pred_va, Yva_m, Mva_m, Wva_m).item()
            # minutes MAE on recorded cells of the validation set
            err_min = np.abs(np.array(pred_va) - np.array(Yva_m)) * ysd
            mae = float((err_min * Mva).sum() / Mva.sum())
            print(json.dumps({
                "stage": stage, "step": s, "global": step, "lr": round(lr_now, 6),
                "train_wmse": round(loss.item(), 4), "val_wmse": round(va, 4),
                "val_wmse_baseline": round(base_va, 4), "val_mae_min": round(mae, 3),
            }))

pred_va = np.array(model(Xva_m, Rva_m)) * ysd + ymu
per_puz = [float((np.abs(pred_va[:, j] - Yva[:, j]) * Mva[:, j]).sum() / Mva[:, j].sum()) for j in range(N_PUZ)]
print(json.dumps({"event": "done", "secs": round(time.time() - t0, 2),
                  "mae_min_per_puzzle": [round(v, 2) for v in per_puz],
                  "recorded_share": round(float(Mva.mean()), 3)}))
