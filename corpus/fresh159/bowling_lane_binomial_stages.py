"""Ten-pin bowling: first-ball pinfall (0..10) as a binomial count.

Stage "fresh": freshly oiled pairs only.  Stage "transition": the oil has been
played on (carry-down, dry backends) and the scores get noisier, so the
model is trained further on a harder mix.  Each stage gets its own Lion
optimizer whose learning rate ramps up from exactly 0 again.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)
FEATS = ["speed_mph", "rev_rpm", "axis_tilt", "release_board",
         "oil_len_ft", "oil_ml", "games_on_pair"]


def make_lanes(n, transition):
    speed = rng.uniform(14.5, 20.5, n)
    rev = rng.uniform(220, 480, n)
    tilt = rng.uniform(0, 25, n)
    board = rng.uniform(6, 28, n)
    oil_len = rng.uniform(34, 46, n)
    oil_ml = rng.uniform(19, 29, n)
    games = rng.uniform(8, 36, n) if transition else np.zeros(n)
    # made-up entry-angle law (degrees) and pocket offset (boards)
    hook = 0.018 * rev / (speed / 17.0) ** 2 * (1 - tilt / 40) * (52 - oil_len) / 10
    hook = hook * (1 + 0.012 * games)          # dry backends hook more
    angle = 2.0 + 2.2 * hook + 0.04 * (board - 15)
    offset = (board - 17.5) * 0.35 - 3.0 * (hook - 1.5) + 0.05 * (oil_ml - 24) * 3
    offset = offset + 0.06 * games * np.sin(board / 4.0)   # carry-down
    logit = 1.1 - 0.45 * (angle - 5.5) ** 2 - 0.28 * np.abs(offset) + 0.05 * (speed - 17)
    p = 1 / (1 + np.exp(-np.clip(logit, -30, 30)))
    if transition:  # overdispersed: beta-binomial
        conc = 6.0
        p = rng.beta(p * conc + 1e-3, (1 - p) * conc + 1e-3)
    pins = rng.binomial(10, p)
    x = np.stack([speed, rev, tilt, board, oil_len, oil_ml, games], 1)
    return x.astype(np.float32), pins.astype(np.float32)


x_fresh, y_fresh = make_lanes(3000, False)
x_trans, y_trans = make_lanes(3000, True)
xv_fresh, yv_fresh = make_lanes(800, False)
xv_trans, yv_trans = make_lanes(800, True)

mu = np.concatenate([x_fresh, x_trans]).mean(0)
sd = np.concatenate([x_fresh, x_trans]).std(0) + 1e-6


def norm(a):
    return mx.array((a - mu) / sd)


class PinfallNet(nn.Module):
    def __init__(self, d_in=7, width=48):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def binom_nll(model, x, k):
    z = model(x)
    log_p = -mx.logaddexp(0.0, -z)
    log_q = -mx.logaddexp(0.0, z)
    return -mx.mean(k * log_p + (10.0 - k) * log_q) / 10.0


def house_nll(k_train, k_eval):
    p = float(k_train.mean() / 10.0)
    return float(-np.mean(k_eval * math.log(p) + (10 - k_eval) * math.log(1 - p)) / 10.0)


def evaluate(model, xs, ks):
    z = model(xs)
    nll = binom_nll(model, xs, ks)
    mae = mx.mean(mx.abs(10.0 * mx.sigmoid(z) - ks))
    mx.eval(nll, mae)
    return nll.item(), mae.item()


mx.random.seed(11)
model = PinfallNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, binom_nll)

xv_all = norm(np.concatenate([xv_fresh, xv_trans]))
yv_all = mx.array(np.concatenate([yv_fresh, yv_trans]))
stages = [
    ("fresh", x_fresh, y_fresh, norm(xv_fresh), mx.array(yv_fresh), 400, 1e-3),
    ("transition", np.concatenate([x_fresh, x_trans]), np.concatenate([y_fresh, y_trans]),
     xv_all, yv_all, 500, 6e-4),
]

t0 = time.time()
for name, xtr, ytr, xv, yv, steps, peak in stages:
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, steps - warm, 0.1 * peak)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    house = house_nll(ytr, np.array(yv))
    house_mae = float(np.mean(np.abs(ytr.mean() - np.array(yv))))
    xtr_m, ytr_m = norm(xtr), mx.array(ytr)
    n = xtr.shape[0]
    for step in range(steps):
        idx = mx.array(rng.integers(0, n, 128))
        lr_now = float(sched(mx.array(step)).item())
        loss, grads = loss_and_grad(model, xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            v_nll, v_mae = evaluate(model, xv, yv)
            print(json.dumps({"stage": name, "step": step, "lr": round(lr_now, 7),
                              "batch_nll": round(loss.item(), 4),
                              "val_nll": round(v_nll, 4), "house_nll": round(house, 4),
                              "val_mae_pins": round(v_mae, 3), "house_mae_pins": round(house_mae, 3)}),
                  flush=True)

f_nll, f_mae = evaluate(model, norm(xv_fresh), mx.array(yv_fresh))
t_nll, t_mae = evaluate(model, norm(xv_trans), mx.array(yv_trans))
print(json.dumps({"summary": True, "fresh_val_nll": round(f_nll, 4), "fresh_mae_pins": round(f_mae, 3),
                  "transition_val_nll": round(t_nll, 4), "transition_mae_pins": round(t_mae, 3),
                  "seconds": round(time.time() - t0, 1)}))
