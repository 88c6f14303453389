"""Cave-diving gas planner: predict cylinder pressure drop (bar/min) of a dive
segment from the dive log, so the thirds rule can be checked before a dive.

Three seeds are trained one after another.  Each run warms the learning rate
up from exactly 0, saves a checkpoint half-way, and continues from a fresh
process-like reload (new model + new optimiser restored from disk).
Gradients go through an mx.distributed all_sum (single process here).
"""
import logging
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s | %(message)s")
log = logging.getLogger("gasplan")

group = mx.distributed.init()
WORLD = group.size()

# ------------------------------------------------------------------ dive log
data_rng = np.random.default_rng(2026)


def make_dives(n):
    depth = data_rng.uniform(6, 45, n)                      # m
    temp = data_rng.uniform(4, 24, n)                       # deg C
    flow = data_rng.gamma(2.0, 0.25, n)                     # knots of cave flow
    logged = np.exp(data_rng.uniform(math.log(20), math.log(2000), n))
    dry = (data_rng.random(n) < 0.45).astype(np.float64)    # drysuit
    stress = data_rng.random(n) < 0.08                      # silt-out / line trouble
    cyl = np.where(data_rng.random(n) < 0.5, 12.0, 2 * 11.1)  # single 12 l or twin 11s
    sac = 13.0 + 9.0 * flow - 2.2 * np.log(logged / 20) + 0.18 * np.maximum(0, 16 - temp) * (1 - 0.6 * dry)
    sac = sac * np.where(stress, 1.6, 1.0) * np.exp(data_rng.normal(0, 0.07, n))
    bar_per_min = sac * (1 + depth / 10.0) / cyl
    x = np.stack([depth / 20, temp / 10, flow, np.log(logged) / 4, dry,
                  stress.astype(np.float64), cyl / 12], axis=1)
    return x.astype(np.float32), bar_per_min.astype(np.float32)


x_tr, y_tr = make_dives(9000)
x_va, y_va = make_dives(2000)
X_tr, Y_tr = mx.array(x_tr), mx.array(np.log(y_tr))
X_va = mx.array(x_va)
rule_of_thumb = float(np.median(y_tr))   # planners' fixed "2 bar/min" style guess
base_mae = float(np.mean(np.abs(y_va - rule_of_thumb)))


class GasNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def loss_fn(model, x, y_log):
    return mx.mean((model(x) - y_log) ** 2)


EPOCHS, BATCH, PEAK = 8, 128, 3e-3
STEPS_PER_EPOCH = x_tr.shape[0] // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 60


def schedule():
    warm = optim.linear_schedule(0.0, PEAK, WARM)          # first step uses lr = 0
    decay = optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)
    return optim.join_schedules([warm, decay], [WARM])


def new_run():
    model = GasNet()
    opt = optim.Adamax(learning_rate=schedule())
    return model, opt


def valid_metrics(model):
    pred = np.exp(np.array(model(X_va)))
    mae = float(np.mean(np.abs(pred - y_va)))
    within = 100.0 * float(np.mean(np.abs(pred - y_va) / y_va < 0.10))
    return mae, within


def train_epoch(model, opt, loss_and_grad, order_rng):
    perm = order_rng.permutation(x_tr.shape[0])
    tot = 0.0
    for b in range(STEPS_PER_EPOCH):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        loss, grads = loss_and_grad(model, X_tr[idx], Y_tr[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    return tot / STEPS_PER_EPOCH


ckpt_dir = tempfile.mkdtemp(prefix="gasplan_")
log.info("world=%d  train=%d valid=%d  rule-of-thumb %.2f bar/min -> MAE %.3f bar/min",
         WORLD, x_tr.shape[0], x_va.shape[0], rule_of_thumb, base_mae)
results = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    order_rng = np.random.default_rng(seed)
    model, opt = new_run()
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for epoch in range(1, EPOCHS + 1):
        if epoch == EPOCHS // 2 + 1:
            wpath = os.path.join(ckpt_dir, f"seed{seed}_model.safetensors")
            opath = os.path.join(ckpt_dir, f"seed{seed}_opt.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            model, opt = new_run()                        # simulate a restart
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            loss_and_grad = nn.value_and_grad(model, loss_fn)
            log.info("seed %d: resumed from %s at step %d (lr %.2e)", seed,
                     os.path.basename(wpath), int(opt.state["step"]), opt.learning_rate.item())
        lr_before = opt.learning_rate.item() if "learning_rate" in opt.state else 0.0
        train_mse = train_epoch(model, opt, loss_and_grad, order_rng)
        mae, within = valid_metrics(model)
        log.info("seed %d epoch %d/%d  lr %.2e  train log-mse %.4f  valid MAE %.3f bar/min (rule %.3f)  within 10%%: %.1f%%",
                 seed, epoch, EPOCHS, lr_before, train_mse, mae, base_mae, within)
    results.append((seed, mae, within))

log.info("summary: " + "  ".join(f"seed{s}: MAE {m:.3f} / {w:.1f}%" for s, m, w in results))
log.info("mean valid MAE %.3f bar/min vs rule-of-thumb %.3f bar/min",
         float(np.mean([r[1] for r in results])), base_mae)
