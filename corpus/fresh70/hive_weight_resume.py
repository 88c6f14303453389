"""Daily hive-scale weight change (kg/day) from weather and colony features.

Frozen random-Fourier-feature encoder (fixed on purpose) + trainable MLP head.
Learning rate warms up from exactly 0.  Training is done in two sessions: the
first writes a checkpoint (head weights + optimizer state + step) to a temp
dir, the second builds fresh objects, loads the checkpoint and carries on.
"""
import json
import logging
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(format="%(levelname)-7s hive | %(message)s", level=logging.INFO)
log = logging.getLogger("hive")

rng = np.random.default_rng(11)


def make_hives(n):
    doy = rng.uniform(60, 300, n)  # day of year
    tmax = 8 + 17 * np.sin((doy - 80) / 365 * 2 * np.pi) + rng.normal(0, 3, n)
    rain = rng.gamma(0.6, 4.0, n) * (rng.random(n) < 0.35)
    wind = rng.gamma(2.0, 2.5, n)
    frames = rng.integers(4, 21, n).astype(np.float64)  # frames of bees
    flow = np.exp(-((doy - 165) / 28.0) ** 2) + 0.5 * np.exp(-((doy - 235) / 15.0) ** 2)
    forage = 1 / (1 + np.exp(-(tmax - 14) / 2.0)) * np.exp(-rain / 3.0) * np.exp(-wind / 12.0)
    gain = 0.09 * frames * flow * forage
    consumption = 0.012 * frames + 0.02 * np.maximum(12 - tmax, 0)
    dw = gain - consumption + rng.normal(0, 0.08, n)
    x = np.stack([np.sin(doy / 365 * 2 * np.pi), np.cos(doy / 365 * 2 * np.pi),
                  (tmax - 15) / 8, np.log1p(rain) - 0.6, (wind - 5) / 3.5,
                  (frames - 12) / 5], 1).astype(np.float32)
    return x, dw.astype(np.float32)


Xtr, ytr = make_hives(12000)
Xva, yva = make_hives(1200)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class HiveNet(nn.Module):
    def __init__(self, d_in=6, n_feat=256, hidden=128):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)          # fixed random projection
        self.rff.weight = mx.random.normal((n_feat, d_in)) * 1.3
        self.rff.bias = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.h1 = nn.Linear(n_feat, hidden)
        self.h2 = nn.Linear(hidden, 1)

    def __call__(self, x):
        z = mx.cos(self.rff(x)) * math.sqrt(2.0 / self.rff.weight.shape[0])
        return self.h2(nn.silu(self.h1(z * 8.0))).squeeze(-1)


def build(total_steps):
    mx.random.seed(5)
    model = HiveNet()
    model.rff.freeze()
    model.h1.unfreeze()
    model.h2.unfreeze()
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total_steps - warm, 1e-4)], [warm])
    opt = optim.Adamax(learning_rate=sched)
    return model, opt


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model):
    p = model(Xva)
    rmse = mx.sqrt(mx.mean((p - yva) ** 2)).item()
    mae = mx.mean(mx.abs(p - yva)).item()
    return rmse, mae


BS = 64
EPOCHS_TOTAL = 16
steps_per_epoch = Xtr.shape[0] // BS
TOTAL = EPOCHS_TOTAL * steps_per_epoch


def run_epochs(model, opt, first_epoch, last_epoch, grad_audit=False):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, last_epoch + 1):
        perm = mx.array(np.random.default_rng(100 + ep).permutation(Xtr.shape[0]))
        tot, t0 = 0.0, time.perf_counter()
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            if grad_audit and ep == first_epoch and b == 0:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if mx.all(v == 0).item()]
                log.info("grad audit: %d trainable leaves, %d all-zero, frozen rff in grads: %s, loss0=%.4f, lr0=%.2e",
                         len(leaves), len(zero), any(k.startswith("rff") for k, _ in leaves),
                         loss.item(), opt.learning_rate.item())
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        rmse, mae = evaluate(model)
        log.info("epoch %2d  train_mse=%.5f  val_rmse=%.4f kg/d  val_mae=%.4f kg/d  lr=%.2e  %.1fs",
                 ep, tot / steps_per_epoch, rmse, mae, opt.learning_rate.item(), time.perf_counter() - t0)


base = float(mx.sqrt(mx.mean((yva - ytr.mean()) ** 2)).item())
log.info("data: %d train / %d val hives; predict-mean val_rmse=%.4f kg/d", Xtr.shape[0], Xva.shape[0], base)

ckdir = tempfile.mkdtemp(prefix="hive_ckpt_")

# ---- session 1 ----
model, opt = build(TOTAL)
rff_before = np.array(model.rff.weight)
log.info("session 1: epochs 1-8, frozen rff + trainable head (%d trainable params)",
         sum(v.size for _, v in tree_flatten(model.trainable_parameters())))
run_epochs(model, opt, 1, 8, grad_audit=True)
model.save_weights(os.path.join(ckdir, "head.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": 8, "step": int(opt.step.item())}, f)
ref_rmse = evaluate(model)[0]
log.info("checkpoint written to %s (step %d, val_rmse=%.4f)", ckdir, int(opt.step.item()), ref_rmse)
del model, opt

# ---- session 2 ----
model, opt = build(TOTAL)
model.load_weights(os.path.join(ckdir, "head.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
meta = json.load(open(os.path.join(ckdir, "meta.json")))
mx.eval(model.parameters(), opt.state)
log.info("session 2: resumed at epoch %d step %d, val_rmse after load=%.4f (saved %.4f), lr=%.2e",
         meta["epoch"], int(opt.step.item()), evaluate(model)[0], ref_rmse, opt.learning_rate.item())
run_epochs(model, opt, meta["epoch"] + 1, EPOCHS_TOTAL)

log.info("rff projection unchanged by training: %s", bool(np.allclose(np.array(model.rff.weight), rff_before)))
for d, t, r, w, fr in [(165, 22, 0, 3, 18), (165, 22, 12, 3, 18), (100, 9, 0, 4, 8), (280, 10, 0, 6, 12)]:
    x = np.array([[math.sin(d / 365 * 2 * math.pi), math.cos(d / 365 * 2 * math.pi), (t - 15) / 8,
                   math.log1p(r) - 0.6, (w - 5) / 3.5, (fr - 12) / 5]], np.float32)
    log.info("probe doy=%d tmax=%d rain=%d wind=%d frames=%d -> %+.3f kg/d", d, t, r, w, fr,
             model(mx.array(x)).item())
