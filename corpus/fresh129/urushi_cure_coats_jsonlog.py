"""Urushi lacquer workshop: predict hours until a lacquered panel is touch-dry.

Stage 1 trains on single-coat panels only; stage 2 adds the multi-coat panels
(pigment x coat interaction) with a fresh optimizer whose warmup starts at lr 0.
Progress goes out through `logging` as JSON lines.
"""
import json
import logging
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s urushi %(message)s")
log = logging.getLogger("urushi")

rng = np.random.default_rng(129)
mx.random.seed(129)

FEATURES = ["room_C", "rh_pct", "coat_um", "coats", "vermilion", "sap_age_d", "airflow"]


def make_panels(n):
    temp = rng.uniform(16, 30, n)
    rh = rng.uniform(55, 92, n)
    thick = rng.uniform(15, 60, n)
    coats = rng.integers(1, 5, n).astype(np.float64)
    verm = (rng.random(n) < 0.4).astype(np.float64)
    age = rng.uniform(0, 120, n)
    air = rng.uniform(0, 1, n)
    log_h = (1.7 + 0.35 * ((rh - 80) / 10) ** 2 - 0.045 * (temp - 22)
             + 0.014 * thick + 0.55 * np.log(coats) * (1 + 0.8 * verm)
             + 0.004 * age - 0.25 * air + rng.normal(0, 0.08, n))
    x = np.stack([temp, rh, thick, coats, verm, age, air], 1)
    return x, np.exp(log_h)


x_tr, h_tr = make_panels(6000)
x_va, h_va = make_panels(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = np.log(h_tr).mean(), np.log(h_tr).std()


def to_mx(x, h):
    return (mx.array(((x - mu) / sd).astype(np.float32)),
            mx.array(((np.log(h) - y_mu) / y_sd).astype(np.float32)))


Xtr, Ytr = to_mx(x_tr, h_tr)
Xva, Yva = to_mx(x_va, h_va)
single = np.nonzero(x_tr[:, 3] == 1)[0]
everything = np.arange(len(x_tr))


class CureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def hours_rmse(pred_std, h_true):
    pred_h = np.exp(np.array(pred_std) * y_sd + y_mu)
    return float(np.sqrt(np.mean((pred_h - h_true) ** 2)))


model = CureNet()
mx.eval(model.parameters())

# audit: every weight must get a gradient before we start
_, g0 = nn.value_and_grad(model, mse)(model, Xtr[:256], Ytr[:256])
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
log.info("grad audit %s", json.dumps({k: round(v, 5) for k, v in gn.items()}))
assert all(v > 0 for v in gn.values())

baseline_h = float(np.sqrt(np.mean((np.exp(y_mu) - h_va) ** 2)))
var_va = float(np.var(np.array(Yva)))


def run_stage(stage, idx, steps, peak_lr):
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, steps - warm, peak_lr * 0.05)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, mse)(model, x, y)
        opt.update(model, grads)
        return loss

    idx_mx = mx.array(idx)
    run = []
    for it in range(steps):
        lr_now = float(sched(mx.array(it)))
        pick = idx_mx[mx.random.randint(0, len(idx), (128,))]
        loss = step(Xtr[pick], Ytr[pick])
        mx.eval(loss, state)
        run.append(loss.item())
        if it % 150 == 0 or it == steps - 1:
            pv = model(Xva)
            vm = mx.mean((pv - Yva) ** 2).item()
            rec = {"stage": stage, "step": it, "lr": round(lr_now, 6),
                   "train_mse": round(float(np.mean(run)), 4),
                   "val_mse": round(vm, 4),
                   "val_rmse_h": round(hours_rmse(pv, h_va), 3),
                   "mean_guess_rmse_h": round(baseline_h, 3),
                   "r2_pct": round(100 * (1 - vm / var_va), 1)}
            log.info(json.dumps(rec))
            run = []


t0 = time.time()
log.info("stage 1: %d single-coat panels", len(single))
run_stage(1, single, 900, 3e-3)
log.info("stage 2: all %d panels (1-4 coats), fresh optimizer, warmup from 0", len(everything))
run_stage(2, everything, 1500, 2e-3)
final = mx.mean((model(Xva) - Yva) ** 2).item()
log.info("done in %.1fs final val_mse %.4f", time.time() - t0, final)
