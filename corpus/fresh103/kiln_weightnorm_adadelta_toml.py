"""Predict the peak temperature of a pottery kiln firing from raw controller sensors.

The 8 raw channels are a known linear mix of the physical quantities (the vendor
ships the calibration matrix), so the first layer is a calibration Linear whose
weights we SET from the datasheet and FREEZE.  The regressor on top uses weight
normalisation (w = g * v / ||v||) written by hand.  Adadelta with a linear
warm-up from exactly 0 (the first update does nothing on purpose), then cosine.
Reports are printed as TOML tables.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
N_TRAIN, N_VALID = 6000, 1000
BATCH = 64
EPOCHS = 24
WARMUP = 60

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
# physical quantities: ramp rate, hold time, load mass, shelf count, cone target,
# ambient temp, element age, vent opening (all standardised)
n = N_TRAIN + N_VALID
z = rng.standard_normal((n, 8)).astype(np.float32)
MIX = (np.eye(8) + 0.35 * rng.standard_normal((8, 8))).astype(np.float32)
OFFSET = rng.normal(0.0, 2.0, size=8).astype(np.float32)
raw = z @ MIX + OFFSET  # what the controller logs

peak_c = (
    1180
    + 45 * z[:, 4]
    + 18 * np.tanh(z[:, 0]) * (1 + 0.5 * z[:, 1])
    - 12 * z[:, 2] * (z[:, 3] > 0)
    - 9 * np.abs(z[:, 6])
    + 6 * np.sin(2 * z[:, 7])
    + 4 * z[:, 5]
    + rng.normal(0, 4.0, n)
).astype(np.float32)
Y_MU, Y_SD = float(peak_c[:N_TRAIN].mean()), float(peak_c[:N_TRAIN].std())
y = (peak_c - Y_MU) / Y_SD

Xtr, Ytr = mx.array(raw[:N_TRAIN]), mx.array(y[:N_TRAIN])
Xva, Yva = mx.array(raw[N_TRAIN:]), mx.array(y[N_TRAIN:])
NOISE_FLOOR_C = 4.0


# ---------------------------------------------------------------- model
class WNLinear(nn.Module):
    """Linear layer with weight normalisation: direction v, gain g, bias b."""

    def __init__(self, d_in, d_out):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.v = mx.random.uniform(-bound, bound, (d_out, d_in))
        self.g = mx.linalg.norm(self.v, axis=1)
        self.b = mx.zeros((d_out,))

    def __call__(self, x):
        w = self.v * (self.g / mx.linalg.norm(self.v, axis=1))[:, None]
        return x @ w.T + self.b


class KilnNet(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.calib = nn.Linear(8, 8)
        self.l1 = WNLinear(8, hidden)
        self.l2 = WNLinear(hidden, hidden)
        self.out = WNLinear(hidden, 1)

    def __call__(self, raw_x):
        x = self.calib(raw_x)
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


model = KilnNet()
# datasheet calibration: invert the sensor mix, remove the offsets
inv = np.linalg.inv(MIX).astype(np.float32)
model.calib.weight = mx.array(inv.T)
model.calib.bias = mx.array(-(OFFSET @ inv))
model.calib.freeze()
mx.eval(model.parameters())
calib_before = np.array(model.calib.weight)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


loss_and_grad = nn.value_and_grad(model, loss_fn)

steps_per_epoch = N_TRAIN // BATCH
total_steps = steps_per_epoch * EPOCHS
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 1.0, WARMUP), optim.cosine_decay(1.0, total_steps - WARMUP, 0.05)],
    [WARMUP],
)
opt = optim.AdaDelta(learning_rate=schedule, rho=0.95, eps=1e-6)


def valid_metrics():
    pred = model(Xva)
    err_c = (pred - Yva) * Y_SD
    rmse = mx.sqrt(mx.mean(err_c * err_c)).item()
    within = (mx.abs(err_c) <= 10.0).astype(mx.float32).mean().item()
    return rmse, within


def toml_table(name, d, array=False):
    head = f"[[{name}]]" if array else f"[{name}]"
    lines = [head]
    for k, v in d.items():
        if isinstance(v, str):
            lines.append(f'{k} = "{v}"')
        elif isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, float):
            lines.append(f"{k} = {v:.6g}")
        elif isinstance(v, (list, tuple)):
            lines.append(f"{k} = [" + ", ".join(f'"{s}"' for s in v) + "]")
        else:
            lines.append(f"{k} = {v}")
    print("\n".join(lines) + "\n", flush=True)


n_train_leaves = len(tree_flatten(model.trainable_parameters()))
n_all_leaves = len(tree_flatten(model.parameters()))
rmse0, within0 = valid_metrics()
toml_table(
    "run",
    {
        "task": "kiln peak temperature",
        "train_rows": N_TRAIN,
        "valid_rows": N_VALID,
        "batch": BATCH,
        "epochs": EPOCHS,
        "warmup_steps": WARMUP,
        "optimizer": "AdaDelta",
        "trainable_leaves": n_train_leaves,
        "frozen_leaves": n_all_leaves - n_train_leaves,
        "predict_mean_rmse_c": Y_SD,
        "untrained_rmse_c": rmse0,
        "noise_floor_c": NOISE_FLOOR_C,
    },
)

t0 = time.perf_counter()
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    running, seen = 0.0, 0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH : (i + 1) * BATCH]
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        if step == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            toml_table(
                "grad_check",
                {
                    "leaves": len(flat),
                    "zero_leaves": zero,
                    "lr_first_update": float(schedule(0)),
                },
            )
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        seen += 1
        step += 1
    if epoch in (1, 2) or epoch % 2 == 0:
        rmse, within = valid_metrics()
        toml_table(
            "epoch",
            {
                "epoch": epoch,
                "step": step,
                "lr": float(opt.learning_rate),
                "train_mse_std": running / seen,
                "valid_rmse_c": rmse,
                "within_10c_pct": round(100 * within, 1),
                "elapsed_s": round(time.perf_counter() - t0, 2),
            },
            array=True,
        )

calib_change = float(np.abs(np.array(model.calib.weight) - calib_before).max())
rmse, within = valid_metrics()
toml_table(
    "done",
    {
        "steps": step,
        "valid_rmse_c": rmse,
        "within_10c_pct": round(100 * within, 1),
        "calib_max_change": calib_change,
        "seconds": round(time.perf_counter() - t0, 2),
    },
)
