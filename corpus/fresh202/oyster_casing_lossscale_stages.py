"""Oyster-mushroom grow room: predict flush yield (kg per m2 of casing) from
climate + substrate readings. fp16 compute with fp32 master weights and a
dynamic loss scale; two-stage curriculum (first flush rooms only, then all
flushes incl. late, noisier ones)."""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s growroom: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("growroom")

rng = random.Random(11)
mx.random.seed(11)


def room():
    co2 = rng.uniform(400, 1800)          # ppm
    rh = rng.uniform(78, 97)              # %
    temp = rng.uniform(13, 24)            # deg C
    moist = rng.uniform(55, 72)           # substrate moisture %
    spawn = rng.uniform(2, 8)             # spawn rate %
    light = rng.uniform(0, 12)            # h/day
    flush = rng.choice([1, 1, 2, 3])
    y = (3.2 - 0.0011 * max(co2 - 900, 0) - 0.02 * (rh - 90) ** 2 / 4 - 0.04 * (temp - 18) ** 2
         + 0.09 * spawn + 0.18 * math.tanh((moist - 62) / 4) + 0.05 * min(light, 8)
         - 0.55 * (flush - 1))
    y += rng.gauss(0, 0.08 * flush)
    return [co2 / 1000, (rh - 88) / 5, (temp - 18) / 3, (moist - 63) / 5, spawn / 5, light / 6, flush - 2.0], max(y, 0.05), flush


rows = [room() for _ in range(3000)]
X_all = mx.array([r[0] for r in rows])
Y_all = mx.array([r[1] for r in rows])
F_all = mx.array([r[2] for r in rows])
X_tr, Y_tr, F_tr = X_all[:2400], Y_all[:2400], F_all[:2400]
X_va, Y_va, F_va = X_all[2400:], Y_all[2400:], F_all[2400:]

model = nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
master = tree_map(lambda p: p.astype(mx.float32), model.parameters())


def half_loss(params_half, x, y, scale):
    model.update(params_half)
    pred = model(x.astype(mx.float16)).squeeze(-1).astype(mx.float32)
    return nn.losses.huber_loss(pred, y, delta=0.5, reduction="mean") * scale


grad_fn = mx.value_and_grad(half_loss)
opt = optim.Adamax(learning_rate=2e-3)
loss_scale = 2.0 ** 15
good_steps = 0


def val_metrics(params):
    model.update(tree_map(lambda p: p.astype(mx.float16), params))
    pred = model(X_va.astype(mx.float16)).squeeze(-1).astype(mx.float32)
    err = mx.abs(pred - Y_va)
    late = (F_va > 1).astype(mx.float32)
    mae = err.mean()
    mae_first = (err * (1 - late)).sum() / (1 - late).sum()
    mae_late = (err * late).sum() / late.sum()
    mx.eval(mae, mae_first, mae_late)
    return mae.item(), mae_first.item(), mae_late.item()


base_mae = mx.abs(Y_va - Y_tr.mean()).mean().item()
log.info("validation baseline (predict train mean): MAE %.3f kg/m2 over %d rooms", base_mae, Y_va.size)

stages = [("first-flush", F_tr == 1, 14), ("all-flushes", F_tr > 0, 20)]
skipped_total = 0
for stage_name, sel, epochs in stages:
    idx_np = [i for i, keep in enumerate(sel.tolist()) if keep]
    log.info("stage %s: %d rooms, %d epochs", stage_name, len(idx_np), epochs)
    for ep in range(1, epochs + 1):
        rng.shuffle(idx_np)
        tot, n, skipped = 0.0, 0, 0
        for b in range(0, len(idx_np) - 63, 64):
            bi = mx.array(idx_np[b : b + 64])
            params_half = tree_map(lambda p: p.astype(mx.float16), master)
            scaled, grads = grad_fn(params_half, X_tr[bi], Y_tr[bi], mx.array(loss_scale, mx.float16))
            grads = tree_map(lambda g: g.astype(mx.float32) / loss_scale, grads)
            finite = mx.all(mx.array([mx.all(mx.isfinite(g)) for _, g in tree_flatten(grads)]))
            mx.eval(scaled, grads, finite)
            if not finite.item():
                loss_scale /= 2
                good_steps = 0
                skipped += 1
                continue
            master = opt.apply_gradients(grads, master)
            mx.eval(master, opt.state)
            good_steps += 1
            if good_steps % 200 == 0:
                loss_scale = min(loss_scale * 2, 2.0 ** 15)
            tot += scaled.item() / loss_scale
            n += 1
        skipped_total += skipped
        if ep % 2 == 0 or ep == 1 or ep == epochs:
            mae, mae1, mael = val_metrics(master)
            log.info(
                "%s ep %02d | train huber %.4f | val MAE %.3f kg/m2 (1st flush %.3f, later %.3f) | %.1f%% of baseline | scale 2^%d | skipped %d",
                stage_name, ep, tot / max(n, 1), mae, mae1, mael, 100 * mae / base_mae, int(math.log2(loss_scale)), skipped,
            )

mae, mae1, mael = val_metrics(master)
log.info("done: val MAE %.3f kg/m2 vs baseline %.3f (%.1f%%), %d fp16 overflow steps skipped", mae, base_mae, 100 * mae / base_mae, skipped_total)
