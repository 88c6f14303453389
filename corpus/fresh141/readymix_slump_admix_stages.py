"""Ready-mix concrete: predict slump (mm) from batch-plant readings.

Stage A trains on ordinary mixes only (no admixture / plasticiser) with the
admixture embedding kept frozen at its random init.  Stage B brings in the
superplasticised mixes (a different, steeper water-demand law), unfreezes the
embedding and restarts the optimizer + warmup (LR ramps from exactly 0).
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s | %(message)s")
log = logging.getLogger("slump")

rng = np.random.default_rng(7)
mx.random.seed(7)
ADMIX = ["none", "plasticiser", "superplast"]


def make_batch_plant(n, kinds):
    # w/c ratio, cement kg/m3, fine %, max aggregate mm, temp C, minutes since batching
    wc = rng.uniform(0.38, 0.62, n)
    cem = rng.uniform(280, 450, n)
    fine = rng.uniform(34, 48, n)
    agg = rng.choice([10.0, 14.0, 20.0], n)
    temp = rng.uniform(5, 32, n)
    mins = rng.uniform(0, 90, n)
    kind = rng.choice(kinds, n)
    slump = (
        40
        + 420 * (wc - 0.38)
        + 0.12 * (cem - 280)
        - 2.5 * (fine - 40) ** 2 / 10
        + 1.2 * (agg - 10)
        - 0.9 * np.maximum(temp - 20, 0) * (1 + mins / 60)
        - 0.35 * mins
    )
    slump = slump + np.where(kind == 1, 35 + 60 * (wc - 0.38), 0.0)
    # superplasticised: flowing mixes, strong nonlinear w/c response, fast slump loss
    sp = 120 + 900 * (wc - 0.38) ** 1.5 * 4 - 0.9 * mins * (1 + (temp - 5) / 25)
    slump = np.where(kind == 2, slump + sp, slump)
    slump = np.clip(slump + rng.normal(0, 8, n), 0, 260)
    x = np.stack([
        (wc - 0.5) / 0.07, (cem - 365) / 49, (fine - 41) / 4, (agg - 14.7) / 4.1,
        (temp - 18.5) / 7.8, (mins - 45) / 26,
    ], 1).astype(np.float32)
    return mx.array(x), mx.array(kind.astype(np.int32)), mx.array(slump.astype(np.float32))


class SlumpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.admix = nn.Embedding(3, 6)
        self.l1 = nn.Linear(6 + 6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x, k):
        h = mx.concatenate([x, self.admix(k)], axis=1)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


SCALE, SHIFT = 60.0, 100.0  # slump mm  ->  roughly unit scale


def loss_fn(model, x, k, y):
    pred = model(x, k)
    return nn.losses.huber_loss(pred, (y - SHIFT) / SCALE, delta=1.0, reduction="mean")


def rmse_mm(model, x, k, y):
    pred = model(x, k) * SCALE + SHIFT
    return mx.sqrt(mx.mean((pred - y) ** 2)).item()


model = SlumpNet()
mx.eval(model.parameters())

stages = [
    ("A-ordinary", [0, 1], 360, True),
    ("B-with-SP", [0, 1, 2], 480, False),
]

xv_all, kv_all, yv_all = make_batch_plant(1500, [0, 1, 2])
sp_mask = np.array(kv_all) == 2
sp_idx, ord_idx = mx.array(np.where(sp_mask)[0]), mx.array(np.where(~sp_mask)[0])
xv_sp, kv_sp, yv_sp = xv_all[sp_idx], kv_all[sp_idx], yv_all[sp_idx]
xv_or, kv_or, yv_or = xv_all[ord_idx], kv_all[ord_idx], yv_all[ord_idx]

t0 = time.perf_counter()
for name, kinds, steps, freeze_admix in stages:
    xtr, ktr, ytr = make_batch_plant(5000, kinds)
    base_rmse = float(np.sqrt(np.mean((np.array(yv_all) - float(np.mean(np.array(ytr)))) ** 2)))
    if freeze_admix:
        model.admix.freeze()
    else:
        model.admix.unfreeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    warm = 40
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 1e-4)], [warm]
    )
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)
    log.info("stage %s: grades=%s rows=%d trainable=%d admix_frozen=%s", name,
             "/".join(ADMIX[i] for i in kinds), xtr.shape[0], n_train, freeze_admix)

    # one-off gradient audit before the first update of the stage
    _, g0 = vg(model, xtr[:256], ktr[:256], ytr[:256])
    gnorms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g0)}
    nz = sum(1 for v in gnorms.values() if v > 0)
    log.info("grad-audit %s: %d/%d tensors non-zero, min|g|=%.2e max|g|=%.2e", name, nz, len(gnorms),
             min(gnorms.values()), max(gnorms.values()))

    log.info("%6s %9s %10s %10s %10s %10s %8s %9s", "step", "lr", "huber", "val_rmse", "ord_rmse", "sp_rmse", "R2 %",
             "mean-base")
    run = 0.0
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], 128))
        loss, grads = vg(model, xtr[idx], ktr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = 0.9 * run + 0.1 * loss.item() if step > 1 else loss.item()
        if step == 1 or step % 40 == 0 or step == steps:
            v = rmse_mm(model, xv_all, kv_all, yv_all)
            o = rmse_mm(model, xv_or, kv_or, yv_or)
            s = rmse_mm(model, xv_sp, kv_sp, yv_sp)
            r2 = 100.0 * (1 - (v / base_rmse) ** 2)
            log.info("%6d %9.2e %10.4f %8.1fmm %8.1fmm %8.1fmm %7.1f%% %7.1fmm", step, opt.learning_rate.item(), run, v, o,
                     s, r2, base_rmse)

v = rmse_mm(model, xv_all, kv_all, yv_all)
log.info("done in %.1fs | final held-out RMSE %.1f mm (%.1f%% of the 'predict the mean' %.1f mm)",
         time.perf_counter() - t0, v, 100 * v / base_rmse, base_rmse)
