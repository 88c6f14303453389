# Tortilla line notebook: predict finished tortilla weight (g) off the oven
# from the dough-ball and oven readings, and compare against the "12 % bake loss" rule.
import logging
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tortilla: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tortilla")

rng = np.random.default_rng(12)
N_TRAIN, N_VAL = 3000, 600


def make_batches(n):
    ball_true = rng.uniform(28, 42, n)                # g of masa per dough ball
    ball_read = ball_true + rng.normal(0, 0.9, n)     # divider load cell, noisy
    moisture = rng.uniform(52, 60, n)                 # masa moisture %
    oven_c = rng.uniform(260, 320, n)
    dwell_s = rng.uniform(18, 32, n)
    press_c = rng.uniform(150, 210, n)
    speed = rng.uniform(40, 90, n)                    # dozen / min
    rest_min = rng.uniform(0, 40, n)                  # masa resting before the press
    # made-up law: bake loss grows with oven heat x dwell and with wet masa,
    # a hot press seals the surface, rested masa loses less; faster line = thinner
    loss = (0.08 + 0.0009 * (oven_c - 260) * (dwell_s / 25) + 0.004 * (moisture - 52)
            - 0.01 * np.tanh((press_c - 180) / 20) - 0.0012 * rest_min + 0.0004 * (speed - 65))
    y = ball_true * (1 - loss) + 0.002 * (speed - 65) ** 2 / 10 + rng.normal(0, 0.3, n)
    X = np.stack([ball_read, moisture, oven_c, dwell_s, press_c, speed, rest_min], 1)
    rule12 = 0.88 * ball_read                         # plant rule: 12 % bake loss
    return X.astype(np.float32), y.astype(np.float32), rule12.astype(np.float32)


Xtr, ytr, _ = make_batches(N_TRAIN)
Xva, yva, rule_va = make_batches(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_s = mx.array((Xtr - mu) / sd)
Xva_s = mx.array((Xva - mu) / sd)
ytr_s = mx.array((ytr - ymu) / ysd)
yva_np = yva
rule_mae = float(np.abs(rule_va - yva).mean())


class WeightNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


WARM, CYCLE, CYCLES = 30, 110, 3
STEPS = WARM + CYCLE * CYCLES
PEAK = 1e-3


def make_schedule():
    parts = [optim.linear_schedule(0.0, PEAK, WARM)]  # lr starts at exactly 0
    parts += [optim.cosine_decay(PEAK, CYCLE, end=PEAK * 0.02) for _ in range(CYCLES)]
    bounds = [WARM + CYCLE * k for k in range(CYCLES)]
    return optim.join_schedules(parts, bounds)


summary = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    model = WeightNet()
    opt = optim.Lion(learning_rate=make_schedule(), weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, mse)

    # one-off audit: every weight we train must see a gradient
    _, g0 = loss_and_grad(model, Xtr_s[:256], ytr_s[:256])
    from mlx.utils import tree_flatten
    gnorms = {k: float(mx.sqrt((v * v).sum())) for k, v in tree_flatten(g0)}
    log.info("seed %d audit: %d tensors, min |g| %.3e (%s)", seed, len(gnorms),
             min(gnorms.values()), min(gnorms, key=gnorms.get))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    perm_rng = np.random.default_rng(seed)
    best = (float("inf"), -1)
    for it in range(STEPS):
        idx = mx.array(perm_rng.integers(0, N_TRAIN, 128))
        lr_now = float(opt.learning_rate)  # lr used for this update
        loss = step(Xtr_s[idx], ytr_s[idx])
        mx.eval(loss, model.parameters(), opt.state)
        if it % 20 == 0 or it == STEPS - 1:
            pred = np.array(model(Xva_s)) * ysd + ymu
            mae = float(np.abs(pred - yva_np).mean())
            best = min(best, (mae, it))
            log.info("seed %d it %03d lr %.2e | train_mse(std) %.4f | val_mae %.2f g (rule12 %.2f g)",
                     seed, it, lr_now, loss.item(), mae, rule_mae)
    summary.append((seed, mae, best[0], best[1]))

print("")
print("seed | final MAE g | best MAE g @it | 12%-rule MAE | gain")
for seed, mae, bmae, bit in summary:
    print(f"{seed:>4} | {mae:14.2f} | {bmae:10.2f} @{bit:03d} | {rule_mae:14.2f} | {100 * (1 - mae / rule_mae):5.1f}%")
