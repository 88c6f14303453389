"""Sushi-bar rice texture model.

Predict the firmness score (texture-analyser peak force, newtons) of seasoned
sushi rice from the cook log of each batch.  Stage "koshihikari" trains on the
house short-grain rice only; stage "blend" then adds the cheaper blended rice,
whose firmness follows a different (stickier) law, so the loss jumps when the
new data arrives.  Each stage warms the learning rate up from exactly 0 and
restarts its own step counter; the blend stage uses early stopping and restores
its best checkpoint.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1312)

FEATS = ["water_ratio", "soak_min", "vinegar_pct", "rest_min", "temp_c", "blend"]


def cook_batches(n, blend):
    water = rng.uniform(1.0, 1.35, n)          # water : rice by weight
    soak = rng.uniform(10, 60, n)              # minutes
    vinegar = rng.uniform(8, 14, n)            # % of rice weight
    rest = rng.uniform(5, 40, n)               # minutes under cloth
    temp = rng.uniform(24, 40, n)              # rice temperature when tested
    firm = (
        14.0
        - 18.0 * (water - 1.15)
        - 0.04 * (soak - 30)
        + 0.12 * (vinegar - 11)
        + 0.05 * (rest - 20)
        - 0.10 * (temp - 32)
        + 0.6 * np.sin(soak / 9.0)
    )
    if blend:
        # blended rice: softer, and much more sensitive to water and heat
        firm = firm - 2.5 - 14.0 * (water - 1.15) ** 2 * 10 + 0.06 * (temp - 32) ** 2 / 4
    firm = firm + rng.normal(0, 0.35, n)
    X = np.stack([water, soak, vinegar, rest, temp, np.full(n, float(blend))], 1)
    return X.astype(np.float32), firm.astype(np.float32)


Xk, yk = cook_batches(1800, blend=False)
Xb, yb = cook_batches(1800, blend=True)
Xk_val, yk_val = cook_batches(300, blend=False)
Xb_val, yb_val = cook_batches(300, blend=True)

mu = np.concatenate([Xk, Xb]).mean(0)
sd = np.concatenate([Xk, Xb]).std(0) + 1e-6
sd[-1] = 1.0
mu[-1] = 0.0
y_mu, y_sd = float(np.concatenate([yk, yb]).mean()), float(np.concatenate([yk, yb]).std())


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - y_mu) / y_sd)


class RiceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def mae_newton(model, x, y):
    return float(mx.mean(mx.abs(model(x) - y)).item()) * y_sd


mx.random.seed(7)
model = RiceNet()
mx.eval(model.parameters())

# one-off check that every weight matrix receives gradient
x0, y0 = prep(Xk[:64], yk[:64])
_, g0 = nn.value_and_grad(model, loss_fn)(model, x0, y0)
gnorms = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "min_norm": round(min(gnorms.values()), 5),
                  "n_tensors": len(gnorms)}))

# baseline: per-rice-type mean firmness predictor
base_k = float(np.mean(np.abs(yk_val - yk.mean())))
base_b = float(np.mean(np.abs(yb_val - yb.mean())))

STAGES = [
    {"name": "koshihikari", "X": Xk, "y": yk, "steps": 500, "peak": 3e-3, "patience": None},
    {"name": "blend", "X": np.concatenate([Xk, Xb]), "y": np.concatenate([yk, yb]),
     "steps": 1400, "peak": 2e-3, "patience": 3},
]
BATCH = 96
EVAL_EVERY = 50

xkv, ykv = prep(Xk_val, yk_val)
xbv, ybv = prep(Xb_val, yb_val)

t0 = time.perf_counter()
for stage in STAGES:
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, stage["peak"], warm),
         optim.cosine_decay(stage["peak"], stage["steps"] - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    Xs, ys = prep(stage["X"], stage["y"])
    n = Xs.shape[0]
    best, best_params, bad = math.inf, None, 0
    run = []
    for step in range(1, stage["steps"] + 1):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = step_fn(model, Xs[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % EVAL_EVERY == 0:
            vk = mae_newton(model, xkv, ykv)
            vb = mae_newton(model, xbv, ybv)
            watch = vk if stage["name"] == "koshihikari" else 0.5 * (vk + vb)
            rec = {
                "stage": stage["name"], "step": step,
                "lr": round(float(opt.learning_rate.item()), 6),
                "train_huber": round(sum(run) / len(run), 4),
                "val_mae_N": {"koshi": round(vk, 3), "blend": round(vb, 3)},
                "baseline_mae_N": {"koshi": round(base_k, 3), "blend": round(base_b, 3)},
            }
            run = []
            if watch < best - 1e-3:
                best, bad = watch, 0
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
                rec["ckpt"] = "saved"
            else:
                bad += 1
            print(json.dumps(rec))
            if stage["patience"] is not None and bad >= stage["patience"]:
                print(json.dumps({"event": "early_stop", "stage": stage["name"], "step": step,
                                  "best_watch_N": round(best, 3)}))
                break
    if best_params is not None and stage["patience"] is not None:
        model.update(best_params)
        mx.eval(model.parameters())
        print(json.dumps({"event": "restore_best", "stage": stage["name"],
                          "watch_N": round(best, 3)}))

vk, vb = mae_newton(model, xkv, ykv), mae_newton(model, xbv, ybv)
print(json.dumps({"event": "final", "val_mae_N": {"koshi": round(vk, 3), "blend": round(vb, 3)},
                  "baseline_mae_N": {"koshi": round(base_k, 3), "blend": round(base_b, 3)},
                  "noise_floor_N": round(0.35 * math.sqrt(2 / math.pi), 3),
                  "seconds": round(time.perf_counter() - t0, 1)}))
