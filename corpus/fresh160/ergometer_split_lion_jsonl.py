"""Rowing-erg 500 m split predictor.

Boathouse notebook: predict the average 500 m split (seconds) of an erg piece
from stroke telemetry.  Stage "steady" trains on UT2/UT1 pieces only, stage
"race" then mixes in race-pace pieces, which are harder (the split law bends at
high rates), so the validation error jumps when that stage starts.  Lion with a
warm-up that starts at exactly 0, early stopping inside the race stage with the
best weights restored at the end.  One JSON object per line.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)

FEATS = ["rate_spm", "drive_len_m", "peak_force_n", "mass_kg", "drag_factor",
         "hr_frac", "ratio_drive_rec"]


def make_pieces(n, race, key):
    k = mx.random.split(key, 8)
    if race:
        rate = mx.random.uniform(30, 40, (n,), key=k[0])
    else:
        rate = mx.random.uniform(16, 24, (n,), key=k[0])
    drive = mx.random.uniform(1.25, 1.65, (n,), key=k[1])
    force = mx.random.uniform(450, 1100, (n,), key=k[2])
    mass = mx.random.uniform(55, 100, (n,), key=k[3])
    drag = mx.random.uniform(105, 140, (n,), key=k[4])
    hr = mx.clip(0.55 + 0.011 * (rate - 16) + 0.05 * mx.random.normal((n,), key=k[5]), 0.5, 1.0)
    ratio = mx.random.uniform(0.35, 0.7, (n,), key=k[6])
    # made-up law: power ~ force * drive * rate, split ~ power^(-1/3)
    power = 0.0105 * force * drive * rate * (1.0 + 0.08 * (ratio - 0.5))
    split = 500.0 / (power / 2.8) ** (1.0 / 3.0) / 3.9
    split = split + 0.02 * (drag - 120) - 0.03 * (mass - 75)
    # race pieces: technique breaks down at high rate when the drive is short
    split = split + race * 0.9 * mx.maximum(rate - 33.0, 0.0) * (1.65 - drive) * 4.0
    split = split + 1.2 * mx.random.normal((n,), key=k[7])
    X = mx.stack([rate, drive, force, mass, drag, hr, ratio], axis=1)
    return X, split


key = mx.random.key(2024)
ks = mx.random.split(key, 4)
Xs, ys = make_pieces(2400, 0.0, ks[0])
Xr, yr = make_pieces(2400, 1.0, ks[1])
Xs_v, ys_v = make_pieces(600, 0.0, ks[2])
Xr_v, yr_v = make_pieces(600, 1.0, ks[3])

mu = mx.mean(mx.concatenate([Xs, Xr]), axis=0)
sd = mx.std(mx.concatenate([Xs, Xr]), axis=0)
y_mu = mx.mean(mx.concatenate([ys, yr]))
y_sd = mx.std(mx.concatenate([ys, yr]))


def norm(X):
    return (X - mu) / sd


class SplitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = SplitNet()
mx.eval(model.parameters())

warm = 120
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 6e-4, warm), optim.cosine_decay(6e-4, 2600, 6e-5)],
    [warm])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, x, y):
    pred = m(x)
    return nn.losses.huber_loss(pred, (y - y_mu) / y_sd, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def mae_seconds(X, y):
    pred = model(norm(X)) * y_sd + y_mu
    return mx.mean(mx.abs(pred - y)).item()


# grad audit before training: every parameter must receive a gradient
_, g0 = vg(model, norm(Xs[:256]), ys[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_audit", "params": len(tree_flatten(g0)),
                  "zero_grad": zero}))

base_steady = mx.mean(mx.abs(ys_v - mx.mean(ys))).item()
base_race = mx.mean(mx.abs(yr_v - mx.mean(mx.concatenate([ys, yr])))).item()

B = 64
stages = [("steady", Xs, ys, Xs_v, ys_v, base_steady, 8),
          ("race", mx.concatenate([Xs, Xr]), mx.concatenate([ys, yr]),
           mx.concatenate([Xs_v, Xr_v]), mx.concatenate([ys_v, yr_v]),
           (base_steady + base_race) / 2, 30)]
step = 0
for name, X, y, Xv, yv, base, epochs in stages:
    best, best_params, bad, patience = math.inf, None, 0, 4
    for ep in range(epochs):
        perm = mx.random.permutation(X.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, X.shape[0] - B + 1, B):
            idx = perm[i:i + B]
            loss, grads = vg(model, norm(X[idx]), y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
            step += 1
        val = mae_seconds(Xv, yv)
        rec = {"stage": name, "epoch": ep, "step": step,
               "lr": round(float(opt.learning_rate.item()), 7),
               "huber": round(tot / nb, 4), "val_mae_s": round(val, 3),
               "mean_predictor_s": round(base, 3)}
        if name == "race":
            if val < best - 1e-3:
                best, bad = val, 0
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
                mx.eval(best_params)
                rec["best"] = True
            else:
                bad += 1
                if bad >= patience:
                    rec["early_stop"] = True
                    print(json.dumps(rec))
                    break
        print(json.dumps(rec))
    if best_params is not None:
        model.update(best_params)
        mx.eval(model.parameters())
        print(json.dumps({"event": "restore", "stage": name,
                          "val_mae_s": round(mae_seconds(Xv, yv), 3)}))

print(json.dumps({"event": "final",
                  "steady_val_mae_s": round(mae_seconds(Xs_v, ys_v), 3),
                  "race_val_mae_s": round(mae_seconds(Xr_v, yr_v), 3),
                  "mean_predictor_steady_s": round(base_steady, 3),
                  "mean_predictor_race_s": round(base_race, 3)}))
