"""Paper machine caliper model.

Predict sheet caliper (micrometres) at the reel from seven machine settings.
Stage "steady" uses steady-state runs; stage "grade_change" adds the noisier
runs logged during grade changes (so the loss goes up when it starts).
Gradients go through mx.distributed (one process here, same code on many).
Each stage warms its learning rate up from exactly 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(144)
group = mx.distributed.init()
WORLD = group.size()
RANK = group.rank()

FEATS = ["consistency_pct", "wire_speed_mpm", "press_kN", "steam_bar",
         "refining_kWh_t", "filler_pct", "moisture_pct"]


def make_runs(n, grade_change):
    x = np.stack([
        rng.uniform(0.4, 1.2, n),     # headbox consistency %
        rng.uniform(600, 1400, n),    # wire speed m/min
        rng.uniform(40, 120, n),      # press load kN/m
        rng.uniform(2.0, 6.0, n),     # dryer steam bar
        rng.uniform(80, 260, n),      # refining energy kWh/t
        rng.uniform(5, 25, n),        # filler %
        rng.uniform(4, 9, n),         # reel moisture %
    ], axis=1)
    basis = x[:, 0] * 1000.0 / x[:, 1] * 10.0
    cal = (60.0 + 55.0 * basis - 0.18 * x[:, 2] - 0.05 * (x[:, 4] - 150)
           + 0.6 * x[:, 5] + 1.8 * x[:, 6] + 3.0 * np.sin(x[:, 3]))
    noise = 0.8
    if grade_change:
        # transient: caliper lags the new settings and wanders more
        cal = cal + 6.0 * np.tanh((x[:, 2] - 80) / 20.0) * (x[:, 5] / 25.0)
        noise = 2.0
    cal = cal + rng.normal(0, noise, n)
    return x.astype(np.float32), cal.astype(np.float32)[:, None]


x_s, y_s = make_runs(5000, False)
x_g, y_g = make_runs(5000, True)
mu, sd = x_s.mean(0), x_s.std(0)
y_mu, y_sd = float(y_s.mean()), float(y_s.std())


def prep(x, y):
    return mx.array((x - mu) / sd), mx.array((y - y_mu) / y_sd)


Xs, Ys = prep(x_s[:4000], y_s[:4000])
Vs = prep(x_s[4000:], y_s[4000:])
Xg, Yg = prep(x_g[:4000], y_g[:4000])
Vg = prep(x_g[4000:], y_g[4000:])


class CaliperNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


mx.random.seed(7)
model = CaliperNet()


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


def all_avg(tree):
    from mlx.utils import tree_map
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, tree)


def rmse_um(split):
    x, y = split
    err = (model(x) - y) * y_sd
    return math.sqrt(mx.mean(err * err).item())


def baseline_um(split):
    _, y = split
    return float(np.std(np.array(y)) * y_sd)


def emit(**kw):
    if RANK == 0:
        print(json.dumps(kw), flush=True)


stages = [
    ("steady", Xs, Ys, [Vs], 30),
    ("grade_change", mx.concatenate([Xs, Xg]), mx.concatenate([Ys, Yg]), [Vs, Vg], 30),
]
BATCH = 128
t0 = time.time()
emit(event="start", world=WORLD, rank=RANK, features=FEATS,
     caliper_mean_um=round(y_mu, 2), caliper_sd_um=round(y_sd, 2))
for stage_name, X, Y, vals, epochs in stages:
    steps_per_epoch = X.shape[0] // BATCH
    warm = optim.linear_schedule(0.0, 3e-3, steps_per_epoch * 2)
    decay = optim.cosine_decay(3e-3, steps_per_epoch * (epochs - 2), 1e-4)
    lr = optim.join_schedules([warm, decay], [steps_per_epoch * 2])
    opt = optim.Adam(learning_rate=lr)
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(X.shape[0]))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = grad_fn(model, X[idx], Y[idx])
            grads = all_avg(grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if epoch in (1, 2, 3) or epoch % 5 == 0:
            rec = {"stage": stage_name, "epoch": epoch, "lr": round(float(opt.learning_rate), 6),
                   "train_mse_std": round(tot / steps_per_epoch, 5)}
            for name, v in zip(["steady", "grade_change"], vals):
                rec[f"val_rmse_um_{name}"] = round(rmse_um(v), 3)
                rec[f"ref_rmse_um_{name}"] = round(baseline_um(v), 3)
            emit(**rec)

emit(event="done", seconds=round(time.time() - t0, 1),
     final_val_rmse_um_steady=round(rmse_um(Vs), 3),
     final_val_rmse_um_grade_change=round(rmse_um(Vg), 3),
     noise_floor_um={"steady": 0.8, "grade_change": 2.0})
