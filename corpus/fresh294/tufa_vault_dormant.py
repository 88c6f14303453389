"""Cheese-cave ripening: rind moisture (%) of washed-rind wheels from cave readings.

The cave changes its affinage regime twice (new humidifier, then a new brine
recipe), so the target law shifts at the start of each phase.  Hidden units
that go quiet are recycled every 200 steps: their incoming weights are drawn
again, their outgoing weights are set to zero (the output moves only by the
small share those quiet units still carried) and the Adam moments of those rows/columns are cleared.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_TRAIN, N_VAL = 6000, 1500
PHASE_STEPS = 800
N_PHASES = 3
BATCH = 64
RECYCLE_EVERY = 200
TAU = 0.025
HID = 128


def cave_readings(n):
    temp = rng.uniform(8.0, 14.0, n)          # deg C
    rh = rng.uniform(85.0, 98.0, n)           # % relative humidity
    air = rng.uniform(0.05, 0.6, n)           # m/s airflow
    age = rng.uniform(5.0, 90.0, n)           # days in cave
    salt = rng.uniform(1.2, 3.0, n)           # % salt
    turns = rng.integers(1, 8, n).astype(float)  # turns per week
    return np.stack([temp, rh, air, age, salt, turns], 1)


def rind_moisture(x, phase):
    temp, rh, air, age, salt, turns = x.T
    base = 52.0 - 6.0 * np.log1p(age / 10.0) + 0.45 * (rh - 90.0) - 9.0 * air
    if phase == 1:      # new humidifier: wetter caves, airflow dries more strongly
        base = base + 3.0 + 0.25 * (rh - 90.0) - 6.0 * air ** 2 * (temp - 8.0) / 3.0
    if phase == 2:      # new brine recipe: salt draws water out, turning helps
        base = base + 3.0 - 4.5 * (salt - 2.0) ** 2 + 0.8 * np.sqrt(turns) - 0.3 * (temp - 11.0)
    return base + rng.normal(0.0, 0.6, len(x))


X_tr, X_va = cave_readings(N_TRAIN), cave_readings(N_VAL)
mu, sd = X_tr.mean(0), X_tr.std(0)
Xtr = mx.array(((X_tr - mu) / sd).astype(np.float32))
Xva = mx.array(((X_va - mu) / sd).astype(np.float32))


class RindNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, HID)
        self.l2 = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, 1)

    def hidden(self, x):
        h1 = nn.relu(self.l1(x))
        h2 = nn.relu(self.l2(h1))
        return h1, h2

    def __call__(self, x):
        return self.head(self.hidden(x)[1]).squeeze(-1)


model = RindNet()
opt = optim.Adam(learning_rate=1e-3)
probe = Xtr[:512]


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def dormant_units(h):
    act = mx.mean(mx.abs(h), axis=0)
    score = act / (mx.mean(act) + 1e-9)
    return np.nonzero(np.array(score <= TAU))[0]


def fresh_rows(n_rows, fan_in):
    bound = 1.0 / math.sqrt(fan_in)
    return mx.random.uniform(-bound, bound, (n_rows, fan_in))


def recycle():
    """Re-draw incoming weights of quiet units, zero their outgoing weights."""
    h1, h2 = model.hidden(probe)
    d1, d2 = dormant_units(h1), dormant_units(h2)
    before = model(probe)
    st = opt.state
    for idx, inc, out, fan_in in ((d1, "l1", "l2", 6), (d2, "l2", "head", HID)):
        if len(idx) == 0:
            continue
        ix = mx.array(idx)
        lin_in, lin_out = getattr(model, inc), getattr(model, out)
        w = lin_in.weight
        w[ix] = fresh_rows(len(idx), fan_in)
        b = lin_in.bias
        b[ix] = 0.0
        wo = lin_out.weight
        wo[:, ix] = 0.0
        lin_in.weight, lin_in.bias, lin_out.weight = w, b, wo
        for key in ("m", "v"):
            sw = st[inc]["weight"][key]
            sw[ix] = 0.0
            sb = st[inc]["bias"][key]
            sb[ix] = 0.0
            so = st[out]["weight"][key]
            so[:, ix] = 0.0
            st[inc]["weight"][key], st[inc]["bias"][key], st[out]["weight"][key] = sw, sb, so
    after = model(probe)
    mx.eval(model.parameters(), opt.state)
    drift = mx.max(mx.abs(after - before)).item()
    return len(d1), len(d2), drift


def emit(doc):
    print("---")
    for k, v in doc.items():
        print(f"{k}: {v}")


t0 = time.perf_counter()
step = 0
for phase in range(N_PHASES):
    y_tr_np = rind_moisture(X_tr, phase)
    y_va_np = rind_moisture(X_va, phase)
    ym, ys = y_tr_np.mean(), y_tr_np.std()
    ytr = mx.array(((y_tr_np - ym) / ys).astype(np.float32))
    yva_pct = mx.array(y_va_np.astype(np.float32))
    mean_rmse = float(np.sqrt(np.mean((y_va_np - ym) ** 2)))
    start_pred = model(Xva) * ys + ym
    start_rmse = mx.sqrt(mx.mean((start_pred - yva_pct) ** 2)).item()
    emit({"event": "regime", "phase": phase + 1,
          "val_rmse_pct_at_switch": f"{start_rmse:.3f}",
          "mean_guess_val_rmse_pct": f"{mean_rmse:.3f}",
          "noise_floor_pct": 0.6})
    running = []
    for k in range(1, PHASE_STEPS + 1):
        step += 1
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        if step == 1:
            zero_leaves = sum(int(mx.all(g == 0).item()) for _, g in tree_flatten(grads))
            emit({"event": "grad_check", "zero_gradient_leaves": zero_leaves})
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if k % RECYCLE_EVERY == 0:
            pred = model(Xva) * ys + ym
            val_rmse = mx.sqrt(mx.mean((pred - yva_pct) ** 2)).item()
            n1, n2, drift = recycle()
            emit({"phase": phase + 1, "step": step, "phase_step": k,
                  "train_mse_z": f"{np.mean(running):.4f}",
                  "val_rmse_pct": f"{val_rmse:.3f}",
                  "recycled_l1": n1, "recycled_l2": n2,
                  "probe_output_shift": f"{drift:.1e}",
                  "secs": f"{time.perf_counter() - t0:.1f}"})
            running = []

emit({"event": "done", "steps": step, "secs": f"{time.perf_counter() - t0:.1f}"})
