"""Longcase (pendulum) clock regulation: predict daily rate error in seconds/day.

inputs: length offset of the bob nut (mm), room temperature (C), swing amplitude (deg),
barometric pressure (hPa), bob mass (kg), crutch friction index.
Curriculum: stage 'bench' = clocks regulated on the bench (small swing, ~20 C);
stage 'house' = the same clocks in houses (wide swings, cold halls, storms).
"""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("regulator")

rng = np.random.default_rng(16402)

def clock_rate(nut, temp, amp, baro, mass, fric):
    L = 994.0 + nut                                     # mm, seconds pendulum
    rate = -43200.0 * nut / 994.0                       # length error
    rate += -0.5 * 11e-6 * (temp - 20.0) * 86400.0      # steel rod expansion
    a = np.radians(amp)
    rate += -86400.0 * (a ** 2) / 16.0 * 0.9            # circular error
    rate += -0.011 * (baro - 1013.0) / np.sqrt(mass)    # barometric error, heavier bob less
    rate += 2.0 * fric * np.sin(a * 8.0)                # escapement/crutch quirk
    return rate

def sample(n, stage):
    if stage == "bench":
        temp = rng.normal(20, 1.0, n); amp = rng.uniform(1.5, 2.5, n); baro = rng.normal(1013, 4, n)
    else:
        temp = rng.uniform(4, 30, n); amp = rng.uniform(1.5, 6.0, n); baro = rng.normal(1005, 18, n)
    nut = rng.uniform(-0.6, 0.6, n); mass = rng.uniform(1.0, 6.0, n); fric = rng.uniform(0, 1, n)
    y = clock_rate(nut, temp, amp, baro, mass, fric) + rng.normal(0, 0.8, n)
    x = np.stack([nut / 0.6, (temp - 20) / 8, (amp - 3.5) / 1.5, (baro - 1010) / 15,
                  (mass - 3.5) / 1.5, fric * 2 - 1], 1).astype(np.float32)
    return x, y.astype(np.float32), (nut, temp, amp)

def rule_of_thumb(nut):
    # the regulator's rule: 1 mm on the nut ~ 43 s/day
    return -43.46 * nut

class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)
    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)

Y_SCALE = 20.0
mx.random.seed(3)
model = RateNet()

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y / Y_SCALE, delta=1.0, reduction="mean")

lvg = nn.value_and_grad(model, loss_fn)

_xg, _yg, _ = sample(128, "house")
_, g = lvg(model, mx.array(_xg), mx.array(_yg))
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
log.info("gradient check: %d tensors, %d with zero gradient", len(tree_flatten(g)), len(zero))

def mae_sec(x, y):
    return float(mx.abs(model(x) * Y_SCALE - y).mean())

stages = [("bench", 2000, 12, 3e-3), ("house", 4000, 40, 2e-3)]
BS = 64
for name, n, epochs, lr_peak in stages:
    xtr, ytr, _ = sample(n, name)
    xva, yva, (nut_va, _, _) = sample(600, name)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
    thumb = float(np.abs(rule_of_thumb(nut_va) - yva).mean())
    steps_per_epoch = n // BS
    warm = 3 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, lr_peak, warm),
         optim.cosine_decay(lr_peak, epochs * steps_per_epoch - warm, lr_peak * 0.05)], [warm])
    opt = optim.Adamax(learning_rate=sched)        # fresh optimizer, step counter starts at 0
    log.info("stage=%s n=%d  start val MAE %.2f s/day (rule of thumb %.2f s/day)",
             name, n, mae_sec(Xva, Yva), thumb)
    best, best_params, bad = float("inf"), None, 0
    for ep in range(epochs):
        perm = rng.permutation(n)
        run = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * BS:(i + 1) * BS])
            loss, grads = lvg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
        val = mae_sec(Xva, Yva)
        lr_now = float(opt.learning_rate)
        msg = "stage=%s ep=%02d step=%d lr=%.2e huber=%.4f val_MAE=%.2fs/d thumb=%.2fs/d"
        log.info(msg, name, ep, int(opt.step), lr_now, run / steps_per_epoch, val, thumb)
        if val < best - 0.01:
            best, bad = val, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
            if name == "house" and bad >= 6:
                log.warning("stage=%s early stop at ep=%d (no gain for %d epochs)", name, ep, bad)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    log.info("stage=%s restored best: val MAE %.2f s/day", name, mae_sec(Xva, Yva))

xt, yt, (nut_t, _, _) = sample(1000, "house")
final = mae_sec(mx.array(xt), mx.array(yt))
log.info("SUMMARY house-test MAE %.2f s/day vs rule-of-thumb %.2f s/day (%.0f%% of it)",
         final, float(np.abs(rule_of_thumb(nut_t) - yt).mean()),
         100 * final / float(np.abs(rule_of_thumb(nut_t) - yt).mean()))
