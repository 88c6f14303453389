"""Active-layer thickness (cm) of permafrost boreholes from site readings.

Leave-one-region-out validation: for every region we train a fresh model on the
other three, with a learning rate that starts at exactly 0 and warms up, then
early-stop on the held-out region and restore the best weights.
One JSON object per line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

REGIONS = ["north_slope", "yamal", "hudson_plain", "qinghai"]
FEATS = ["tdd", "snow_cm", "organic_cm", "vwc", "ndvi", "south_aspect", "elev_km"]


def simulate(rng, region_id, n):
    tdd = rng.uniform(400, 1800, n)              # thawing degree days
    snow = rng.gamma(3.0, 12.0, n)               # winter snow depth, cm
    organic = rng.gamma(2.0, 9.0, n)             # organic mat, cm
    vwc = rng.uniform(0.1, 0.6, n)               # soil moisture fraction
    ndvi = rng.uniform(0.1, 0.8, n)
    aspect = rng.uniform(-1, 1, n)               # +1 = south facing
    elev = rng.uniform(0.05, 1.2, n) + (3.6 if region_id == 3 else 0.0)
    # made-up Stefan-like law: ALT ~ sqrt(TDD), insulated by organics, warmed by snow
    alt = (3.1 * np.sqrt(tdd) * (1.0 - 0.45 * np.tanh(organic / 25.0))
           * (1.0 + 0.25 * np.tanh(snow / 40.0)) * (1.0 + 0.35 * (0.5 - vwc))
           + 9.0 * aspect - 14.0 * ndvi - 2.5 * (elev - 1.0))
    alt = alt + rng.normal(0.0, 4.0, n)
    x = np.stack([tdd, snow, organic, vwc, ndvi, aspect, elev], axis=1)
    return x.astype(np.float32), alt.astype(np.float32)


class ALTNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def emit(**rec):
    print(json.dumps(rec, separators=(",", ":")))


def run_fold(k, xs, ys, epochs=60, batch=64, patience=8, peak_lr=1e-3, warm=40):
    tr_idx = [i for i in range(len(REGIONS)) if i != k]
    xtr = np.concatenate([xs[i] for i in tr_idx])
    ytr = np.concatenate([ys[i] for i in tr_idx])
    xva, yva = xs[k], ys[k]
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    xtr_s, xva_s = (xtr - mu) / sd, (xva - mu) / sd
    Xtr, Ytr = mx.array(xtr_s), mx.array((ytr - ymu) / ysd)
    Xva = mx.array(xva_s)

    model = ALTNet(xtr.shape[1])
    mx.eval(model.parameters())
    steps_per_epoch = len(xtr) // batch
    total = epochs * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, total - warm, 1e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-2)
    step_fn = nn.value_and_grad(model, loss_fn)

    base_mae = float(np.mean(np.abs(yva - ymu)))
    best, best_ep, best_params, wait = math.inf, -1, None, 0
    step = 0
    for ep in range(1, epochs + 1):
        perm = np.random.permutation(len(xtr))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * batch:(b + 1) * batch])
            lr_now = float(opt.learning_rate)
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step == 0:
                gnz = sum(int(mx.any(g != 0).item()) for _, g in tree_flatten(grads))
                emit(fold=k, event="first_step", lr=lr_now, grads_nonzero=gnz,
                     n_params=len(tree_flatten(grads)))
            run += loss.item()
            step += 1
        pred = model(Xva) * ysd + ymu
        mx.eval(pred)
        p = np.array(pred)
        mae = float(np.mean(np.abs(p - yva)))
        r2 = 1.0 - float(np.sum((p - yva) ** 2) / np.sum((yva - yva.mean()) ** 2))
        improved = mae < best - 1e-3
        if improved:
            best, best_ep, wait = mae, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        if ep % 5 == 0 or improved and ep <= 3 or wait > patience:
            emit(fold=k, held_out=REGIONS[k], epoch=ep, lr=round(float(opt.learning_rate), 7),
                 train_huber=round(run / steps_per_epoch, 4), val_mae_cm=round(mae, 2),
                 baseline_mae_cm=round(base_mae, 2), r2=round(r2, 3), patience_left=patience - wait)
        if wait > patience:
            break
    model.update(best_params)
    pred = model(Xva) * ysd + ymu
    p = np.array(pred)
    mae = float(np.mean(np.abs(p - yva)))
    r2 = 1.0 - float(np.sum((p - yva) ** 2) / np.sum((yva - yva.mean()) ** 2))
    emit(fold=k, event="restored", best_epoch=best_ep, stopped_at=ep, val_mae_cm=round(mae, 2),
         baseline_mae_cm=round(base_mae, 2), r2=round(r2, 3))
    return mae, base_mae, r2


def main():
    np.random.seed(11)
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    xs, ys = zip(*[simulate(rng, i, 700) for i in range(len(REGIONS))])
    emit(event="data", regions=REGIONS, per_region=700, features=FEATS)
    t0 = time.time()
    rows = [run_fold(k, xs, ys) for k in range(len(REGIONS))]
    maes, bases, r2s = map(np.array, zip(*rows))
    emit(event="summary", mean_val_mae_cm=round(float(maes.mean()), 2),
         mean_baseline_mae_cm=round(float(bases.mean()), 2),
         mean_r2=round(float(r2s.mean()), 3), worst_fold=REGIONS[int(maes.argmax())],
         seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
