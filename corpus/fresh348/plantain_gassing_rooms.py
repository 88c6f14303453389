"""Ripening-room forecaster: days until a plantain pallet reaches colour stage 5.

Three gassing rooms come online one after another. Each room has its own
ethylene-sensor calibration and its own ripening law, and only the newest
room's pallets are on hand while it is being learned.  Memory Aware Synapses
(Aljundi et al., 2018) keeps the weights that matter for earlier rooms close
to where they were: importance = mean |d ||f(x)||^2 / d theta| over unlabelled
pallets, accumulated over rooms.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(7)
rng = np.random.default_rng(7)

N_FEAT = 7   # pulp temp, room temp, RH, ethylene ppm, CO2, hours gassed, peel colour
ROOMS = ["room A (north dock)", "room B (mezzanine)", "room C (new build)"]


def make_room(k, n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    # sensor calibration differs per room (gain and offset on ethylene, CO2)
    gain = [1.0, 1.35, 0.7][k]
    off = [0.0, -0.4, 0.5][k]
    xs = x.copy()
    xs[:, 3] = gain * x[:, 3] + off
    xs[:, 4] = x[:, 4] * [1.0, 0.8, 1.2][k] + [0.0, 0.3, -0.2][k]
    # ripening law (days to stage 5), shared core + a room-specific term
    days = (
        6.0
        - 1.3 * x[:, 0]
        - 0.6 * x[:, 1]
        - 0.9 * np.tanh(x[:, 3])
        - 0.5 * x[:, 5]
        - 1.1 * x[:, 6]
        + 0.4 * x[:, 2] * x[:, 0]
    )
    days += [0.0, 0.6 * np.sin(2.0 * x[:, 4]), -0.5 * x[:, 1] * x[:, 5]][k]
    days += 0.35 * rng.normal(size=n)
    return xs, days.astype(np.float32)[:, None]


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h))
        return self.out(h)


data = []
for k in range(3):
    xtr, ytr = make_room(k, 2400)
    xte, yte = make_room(k, 600)
    data.append((xtr, ytr, xte, yte))
Y_MU, Y_SD = 6.0, 2.5  # fixed target scaling from the pilot season


def rmse_days(model, k):
    xte, yte = data[k][2], data[k][3]
    pred = model(mx.array(xte)) * Y_SD + Y_MU
    return float(mx.sqrt(mx.mean((pred - mx.array(yte)) ** 2)))


def baseline_days(k):
    # the ripening-room foreman's rule: every pallet gets the room's mean
    ytr, yte = data[k][1], data[k][3]
    return float(np.sqrt(np.mean((yte - ytr.mean()) ** 2)))


def mas_importance(model, x_unlab):
    """Mean absolute gradient of the squared L2 output norm, one pallet at a time."""
    def out_norm(params, xi):
        model.update(params)
        return mx.sum(model(xi) ** 2)

    g_fn = mx.grad(out_norm)
    params = model.trainable_parameters()
    acc = tree_map(mx.zeros_like, params)
    for i in range(x_unlab.shape[0]):
        g = g_fn(params, mx.array(x_unlab[i : i + 1]))
        acc = tree_map(lambda a, b: a + mx.abs(b), acc, g)
        if i % 50 == 49:
            mx.eval(acc)
    model.update(params)
    return tree_map(lambda a: a / x_unlab.shape[0], acc)


def train_room(model, k, omega, anchor, lam, steps, start_step, log):
    xtr, ytr = data[k][0], data[k][1]
    ytr_s = (ytr - Y_MU) / Y_SD
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.Adam(learning_rate=sched)

    def objective(m, xb, yb):
        fit = nn.losses.mse_loss(m(xb), yb)
        if omega is None:
            return fit + 0.0 * mx.sum(m.out.bias), (fit, mx.array(0.0))
        flat_p = dict(tree_flatten(m.trainable_parameters()))
        pen = mx.array(0.0)
        for name, w in omega.items():
            pen = pen + mx.sum(w * (flat_p[name] - anchor[name]) ** 2)
        return fit + lam * pen, (fit, pen)

    vg = nn.value_and_grad(model, objective)
    bs = 64
    for s in range(steps):
        idx = rng.integers(0, xtr.shape[0], size=bs)
        (tot, (fit, pen)), grads = vg(model, mx.array(xtr[idx]), mx.array(ytr_s[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, tot, fit, pen)
        if s == 0:
            nz = sum(int(mx.any(g != 0).item()) for _, g in tree_flatten(grads))
            log(f"  grad audit        : {nz}/{len(tree_flatten(grads))} leaves carry signal")
        if s == 0 or (s + 1) % 100 == 0:
            seen = " ".join(f"{rmse_days(model, j):5.2f}" for j in range(k + 1))
            log(
                f"  step {start_step + s + 1:4d} | lr {float(opt.learning_rate):.5f} | "
                f"fit {float(fit):.4f} | mas pen {float(pen):.5f} | rmse_d rooms<= {k}: {seen}"
            )
    return start_step + steps


def log(msg):
    print(msg, flush=True)


t0 = time.time()
model = Forecaster()
mx.eval(model.parameters())
lam = 1.0
omega, anchor = None, None
step = 0
hist = []
ckdir = tempfile.mkdtemp(prefix="gassing_")

for k, room in enumerate(ROOMS):
    log(f"[{room}] pallets {data[k][0].shape[0]} | foreman's rule rmse {baseline_days(k):.2f} d")
    step = train_room(model, k, omega, anchor, lam, 500, 0, log)
    row = [rmse_days(model, j) for j in range(k + 1)]
    hist.append(row)
    log(f"  after {room}: " + ", ".join(f"{ROOMS[j][:6]} {r:.2f} d" for j, r in enumerate(row)))

    if k < 2:
        log("  weighing synapses on 400 unlabelled pallets ...")
        t1 = time.time()
        new_om = dict(tree_flatten(mas_importance(model, data[k][0][:400])))
        omega = new_om if omega is None else {n: omega[n] + new_om[n] for n in new_om}
        anchor = {n: mx.array(p) for n, p in tree_flatten(model.trainable_parameters())}
        mx.eval(omega, anchor)
        tot_om = sum(float(mx.sum(v)) for v in omega.values())
        log(f"  importance mass {tot_om:.3f} ({time.time() - t1:.1f}s)")

    if k == 1:
        # end of shift: persist everything and pick up again from disk
        model.save_weights(os.path.join(ckdir, "forecaster.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "omega.safetensors"), omega)
        mx.save_safetensors(os.path.join(ckdir, "anchor.safetensors"), anchor)
        with open(os.path.join(ckdir, "meta.json"), "w") as f:
            json.dump({"rooms_done": k + 1, "lam": lam}, f)
        before = rmse_days(model, 1)
        model = Forecaster()
        model.load_weights(os.path.join(ckdir, "forecaster.safetensors"))
        omega = mx.load(os.path.join(ckdir, "omega.safetensors"))
        anchor = mx.load(os.path.join(ckdir, "anchor.safetensors"))
        with open(os.path.join(ckdir, "meta.json")) as f:
            meta = json.load(f)
        lam = meta["lam"]
        log(f"  resumed from disk after {meta['rooms_done']} rooms: room B rmse {before:.3f} -> {rmse_days(model, 1):.3f}")

log("")
log("rmse (days) after each room       A      B      C")
for k, row in enumerate(hist):
    cells = "  ".join(f"{r:5.2f}" for r in row) + "      ." * (2 - k)
    log(f"  after {ROOMS[k][:6]:<22}  {cells}")
log("  foreman's rule                " + "  ".join(f"{baseline_days(j):5.2f}" for j in range(3)))
log(f"  noise floor                     0.35   0.35   0.35")
log(f"wall {time.time() - t0:.1f}s")
