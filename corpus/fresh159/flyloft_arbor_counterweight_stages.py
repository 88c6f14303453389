"""Theatre fly loft: how much counterweight (kg) has to go on the arbor so a
line set hangs balanced.  Synthetic rigging-sheet data, two stages:

  stage 'drapes'  - soft goods only (borders, legs, scrims): nearly linear
  stage 'full'    - lighting pipes, LED fixtures, trusses and cable; the
                    friction / cable-pickup terms make it harder, so the
                    loss jumps when this stage starts.

The learning rate starts at exactly 0 and is warmed up, then follows cosine
cycles with warm restarts inside each stage.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

FEATURES = ["batten_m", "pipe_kg_m", "drape_kg", "fixtures", "fixture_kg",
            "truss_kg", "cable_m", "trim_height_m"]


def rigging_sheet(n, full):
    rows, ys = [], []
    for _ in range(n):
        batten = random.uniform(8.0, 16.0)
        pipe = random.choice([3.4, 4.1, 5.6])
        drape = random.uniform(5.0, 60.0)
        if full:
            fixtures = random.randint(0, 14)
            fixture_kg = random.uniform(4.0, 22.0)
            truss = random.choice([0.0, 0.0, 35.0, 70.0]) * batten / 12.0
            cable = fixtures * random.uniform(2.0, 6.0)
        else:
            fixtures, fixture_kg, truss, cable = 0, 0.0, 0.0, 0.0
        trim = random.uniform(6.0, 18.0)
        hanging = batten * pipe + drape + fixtures * fixture_kg + truss + 0.35 * cable
        # cable pick-up grows with trim height, arbor friction is non-linear in load
        pickup = 0.02 * cable * trim
        friction = 0.004 * hanging ** 1.35
        cw = hanging + pickup - friction + random.gauss(0.0, 1.5)
        rows.append([batten, pipe, drape, fixtures, fixture_kg, truss, cable, trim])
        ys.append(cw)
    return mx.array(rows), mx.array(ys)


# feature scaling fixed from a big mixed sheet, so both stages share one scale
ref_x, ref_y = rigging_sheet(3000, True)
mu, sd = ref_x.mean(axis=0), ref_x.std(axis=0) + 1e-6
y_mu, y_sd = ref_y.mean(), ref_y.std()


def scale(x):
    return (x - mu) / sd


class ArborNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATURES), 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = ArborNet()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
value_grad = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())

PEAK_LR = 3e-3
WARMUP = 60
CYCLE = 250      # steps per cosine cycle (restarts at every multiple)
BATCH = 64


def lr_at(step_in_stage, stage_idx):
    if stage_idx == 0 and step_in_stage < WARMUP:
        return PEAK_LR * step_in_stage / WARMUP          # step 0 -> lr exactly 0
    t = (step_in_stage % CYCLE) / CYCLE
    return 1e-5 + 0.5 * (PEAK_LR - 1e-5) * (1 + math.cos(math.pi * t))


# one-off check that every trainable tensor receives gradient
xb, yb = rigging_sheet(BATCH, True)
_, g0 = value_grad(model, scale(xb), (yb - y_mu) / y_sd)
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, zero-grad: {dead if dead else 'none'}")

stages = [("drapes", False, 6), ("full", True, 8)]
print()
print(f"{'stage':<7}|{'ep':>3} |{'lr':>9} |{'train mse(z)':>13} |{'val MAE kg':>11} |"
      f"{'mean-guess kg':>14} |{'R2 %':>7}")
print("-" * 76)
t0 = time.time()
for s_idx, (stage, full, epochs) in enumerate(stages):
    tr_x, tr_y = rigging_sheet(8000, full)
    va_x, va_y = rigging_sheet(1500, full)
    tr_xs, tr_ys = scale(tr_x), (tr_y - y_mu) / y_sd
    va_xs = scale(va_x)
    baseline_mae = mx.abs(va_y - tr_y.mean()).mean().item()
    step_in_stage = 0                                   # counter restarts per stage
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(tr_xs.shape[0])
        run, nb = 0.0, 0
        for i in range(0, tr_xs.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            opt.learning_rate = lr_at(step_in_stage, s_idx)
            loss, grads = value_grad(model, tr_xs[idx], tr_ys[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
            step_in_stage += 1
        pred_kg = model(va_xs) * y_sd + y_mu
        mae = mx.abs(pred_kg - va_y).mean().item()
        r2 = 1.0 - (mx.sum((pred_kg - va_y) ** 2) / mx.sum((va_y - va_y.mean()) ** 2)).item()
        print(f"{stage:<7}|{ep:>3} |{opt.learning_rate.item():>9.2e} |{run / nb:>13.4f} |"
              f"{mae:>11.2f} |{baseline_mae:>14.2f} |{100 * r2:>7.2f}")
print("-" * 76)
print(f"done in {time.time() - t0:.1f}s; last val MAE is what the flyman would see as "
      f"kg off-balance per line set")
