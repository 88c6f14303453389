"""Oast-house drying log: predict final hop-cone moisture (% wet basis) after a kiln
run from the kiln settings and the incoming green hops.

Three seeds, each trained from scratch with SGD + Nesterov momentum under a
warm-restart cosine schedule (SGDR) that starts from a learning rate of exactly 0.
The training step is compiled with the model and optimizer state captured.
"""
from functools import partial
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FEATS = ["green_moist", "bed_depth_cm", "air_temp_C", "airflow_ms",
         "hours", "ambient_RH", "variety_oil", "turn_count"]


def make_kiln_runs(n, rng):
    green = rng.uniform(74, 82, n)          # % moisture when picked
    depth = rng.uniform(30, 75, n)          # cm of cones on the kiln floor
    temp = rng.uniform(52, 68, n)           # drying air C
    flow = rng.uniform(0.2, 0.6, n)         # m/s through the bed
    hours = rng.uniform(7, 12, n)
    rh = rng.uniform(40, 90, n)             # outside air
    oil = rng.uniform(0.5, 3.0, n)          # ml/100g essential oil
    turns = rng.integers(0, 3, n).astype(np.float64)
    rate = 0.045 * (temp - 40) * flow / (depth / 50.0) * (1 + 0.08 * turns)
    final = 10 + (green - 78) * 0.4 + 55 * np.exp(-rate * hours) \
        + 0.03 * (rh - 60) + 0.6 * oil
    final = final + rng.normal(0, 0.6, n)
    X = np.stack([green, depth, temp, flow, hours, rh, oil, turns], 1)
    return X.astype(np.float32), final.astype(np.float32)


rng = np.random.default_rng(138)
Xtr, ytr = make_kiln_runs(1500, rng)
Xva, yva = make_kiln_runs(400, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n = mx.array((Xtr - mu) / sd)
Xva_n = mx.array((Xva - mu) / sd)
ytr_n = mx.array((ytr - ymu) / ysd)
yva_n = mx.array((yva - ymu) / ysd)
baseline_val_mse = float(np.mean((yva - ymu) ** 2))  # predict the training mean, in %^2


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


PEAK = 0.08
WARM = 20
CYCLES = [80, 160, 240]
TOTAL = WARM + sum(CYCLES)
BATCH = 100


def sgdr(step):
    if step < WARM:
        return PEAK * step / WARM  # step 0 -> exactly 0.0
    s = step - WARM
    for L in CYCLES:
        if s < L:
            return 0.5 * PEAK * (1 + math.cos(math.pi * s / L))
        s -= L
    return 0.0


print(f"{'seed':>4} {'step':>5} {'lr':>8} {'trn_mse':>9} {'val_mse':>9} "
      f"{'mean_pred':>9} {'R2':>7}")
print("-" * 58)
finals = []
for seed in (3, 17, 29):
    mx.random.seed(seed)
    order_rng = np.random.default_rng(seed)
    model = KilnNet()
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step_fn(x, y):
        loss, grads = nn.value_and_grad(model, mse)(model, x, y)
        opt.update(model, grads)
        return loss

    perm = order_rng.permutation(len(Xtr))
    cursor = 0
    for step in range(TOTAL):
        if cursor + BATCH > len(perm):
            perm = order_rng.permutation(len(Xtr))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + BATCH])
        cursor += BATCH
        opt.learning_rate = sgdr(step)
        loss = step_fn(Xtr_n[idx], ytr_n[idx])
        mx.eval(loss, model.parameters(), opt.state)
        if step % 40 == 0 or step == TOTAL - 1:
            vm = mse(model, Xva_n, yva_n).item() * ysd ** 2
            tm = loss.item() * ysd ** 2
            print(f"{seed:>4} {step:>5} {sgdr(step):>8.5f} {tm:>9.3f} {vm:>9.3f} "
                  f"{baseline_val_mse:>9.3f} {1 - vm / baseline_val_mse:>7.3f}")
    vm = mse(model, Xva_n, yva_n).item() * ysd ** 2
    finals.append(vm)
    print("-" * 58)

rmse = [math.sqrt(v) for v in finals]
print(f"val RMSE per seed (moisture %): {', '.join(f'{r:.3f}' for r in rmse)}")
print(f"mean-predictor RMSE          : {math.sqrt(baseline_val_mse):.3f}")
print(f"spread across seeds          : {max(rmse) - min(rmse):.3f}")
