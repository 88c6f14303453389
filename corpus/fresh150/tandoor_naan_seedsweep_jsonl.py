"""Tandoor naan bake time: how many seconds a naan must stay on the wall.

Small seed sweep (3 seeds). Each run warms the learning rate up from 0,
then cosine-decays it; we keep the best validation checkpoint and restore
it when validation stops improving. One JSON object per log line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["wall_c", "hydration_pct", "thickness_mm", "dough_g", "fire_age_min", "lid_opens"]


def make_bakes(n, rng):
    wall = rng.uniform(300, 480, n)          # clay wall temperature, deg C
    hyd = rng.uniform(58, 75, n)             # dough hydration, %
    thick = rng.uniform(3, 9, n)             # mm
    grams = rng.uniform(70, 140, n)
    fire = rng.uniform(0, 180, n)            # minutes since charcoal was lit
    lids = rng.integers(0, 6, n).astype(float)
    # made-up bake law: hotter wall -> faster, thicker / wetter / heavier -> slower,
    # old fire and lid openings cool the pot
    eff = wall - 0.35 * fire - 6.0 * lids
    secs = 95.0 * np.exp(-(eff - 300.0) / 160.0) * (thick / 5.0) ** 0.8 * (hyd / 65.0) ** 1.5 * (grams / 100.0) ** 0.4
    secs = secs * np.exp(rng.normal(0, 0.05, n))
    X = np.stack([wall, hyd, thick, grams, fire, lids], 1).astype(np.float32)
    return X, secs.astype(np.float32)


class NaanNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def log(**kw):
    print(json.dumps(kw, separators=(",", ":")), flush=True)


rng = np.random.default_rng(2024)
Xtr, ytr = make_bakes(4000, rng)
Xva, yva = make_bakes(800, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_s, Xva_s = (Xtr - mu) / sd, (Xva - mu) / sd
# model predicts log-seconds; metric reported in plain seconds
ly_mu, ly_sd = float(np.log(ytr).mean()), float(np.log(ytr).std())
Xtr_m, Xva_m = mx.array(Xtr_s), mx.array(Xva_s)
ltr = mx.array((np.log(ytr) - ly_mu) / ly_sd)
yva_np = yva
baseline_mae = float(np.abs(yva - np.median(ytr)).mean())
log(event="data", n_train=len(ytr), n_valid=len(yva), mean_secs=round(float(ytr.mean()), 1),
    baseline_mae_s=round(baseline_mae, 2))


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


def valid_mae(model):
    pred = model(Xva_m) * ly_sd + ly_mu
    return float(mx.mean(mx.abs(mx.exp(pred) - mx.array(yva_np))).item())


EPOCHS, BATCH, PATIENCE = 30, 64, 6
steps_per_epoch = len(ytr) // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
summary = []
t_all = time.perf_counter()
for seed in (11, 12, 13):
    mx.random.seed(seed)
    model = NaanNet(len(FEATURES))
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 3e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    # one-off audit: every parameter receives gradient
    _, g0 = vg(model, Xtr_m[:256], ltr[:256])
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max().item()) == 0.0]
    log(event="grad_audit", seed=seed, n_tensors=len(tree_flatten(g0)), zero_grad=zero)

    best, best_ep, best_params, bad = math.inf, -1, None, 0
    order_rng = np.random.default_rng(seed)
    step = 0
    for ep in range(EPOCHS):
        perm = mx.array(order_rng.permutation(len(ytr)))
        run = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = vg(model, Xtr_m[idx], ltr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        mae = valid_mae(model)
        log(seed=seed, epoch=ep, step=step, lr=round(float(opt.learning_rate.item()), 6),
            huber=round(run / steps_per_epoch, 5), val_mae_s=round(mae, 3), ref_mae_s=round(baseline_mae, 2))
        if mae < best - 1e-3:
            best, best_ep, bad = mae, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                log(event="early_stop", seed=seed, epoch=ep, best_epoch=best_ep)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = valid_mae(model)
    log(event="restore", seed=seed, best_epoch=best_ep, val_mae_s=round(restored, 3),
        check_diff=round(abs(restored - best), 6))
    summary.append((seed, best_ep, restored))

maes = [m for _, _, m in summary]
log(event="sweep_done", seeds=[s for s, _, _ in summary], val_mae_s=[round(m, 3) for m in maes],
    mean=round(float(np.mean(maes)), 3), std=round(float(np.std(maes)), 3),
    baseline_mae_s=round(baseline_mae, 2), wall_s=round(time.perf_counter() - t_all, 1))
