"""Dinghy speed polar: boat speed (knots) from wind and trim readings.

Trained in two watches. At the end of the first watch the run writes a
checkpoint (weights + optimizer state) to a scratch folder, throws the model
and optimizer away, and the second watch rebuilds both from that checkpoint
and carries on, as if the laptop had been closed between watches.
The learning rate warms up from exactly 0 over the first 150 steps.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
TOTAL_STEPS = 1500
WATCH_STEPS = 750
WARMUP = 150
PEAK_LR = 2e-3
BATCH = 128
LOG_EVERY = 125


def make_logbook(n, rng):
    tws = rng.uniform(4.0, 22.0, n)                   # true wind speed, kn
    twa = rng.uniform(40.0, 175.0, n)                 # true wind angle, deg
    crew = rng.uniform(120.0, 180.0, n)               # crew weight, kg
    wave = rng.uniform(0.0, 1.2, n)                   # wave height, m
    trim = rng.uniform(-1.0, 1.0, n)                  # sail trim vs. ideal
    a = np.radians(twa)
    # made-up polar: faster on a reach, saturating with wind, planing bump
    base = 6.5 * (1 - np.exp(-tws / 9.0)) * (0.55 + 0.45 * np.sin(a) ** 0.7)
    plane = 1.8 / (1 + np.exp(-(tws - 14.0))) * np.clip(np.sin(a), 0, 1)
    speed = base + plane - 0.9 * wave * np.cos(a / 2) ** 2 \
        - 0.6 * trim ** 2 - 0.004 * (crew - 150.0) * (tws < 10)
    speed = speed + rng.normal(0, 0.15, n)
    X = np.stack([tws, np.sin(a), np.cos(a), crew, wave, trim], 1)
    return X.astype(np.float32), speed.astype(np.float32)[:, None]


class Polar(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.layers = [nn.Linear(6, width), nn.Linear(width, width),
                       nn.Linear(width, 1)]

    def __call__(self, x):
        for lin in self.layers[:-1]:
            x = nn.silu(lin(x))
        return self.layers[-1](x)


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-5)],
        [WARMUP])
    return optim.Adam(learning_rate=sched)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rms_knots(model, X, Y):
    return math.sqrt(loss_fn(model, X, Y).item()) * SPEED_SD


rng = np.random.default_rng(SEED)
Xtr, Ytr = make_logbook(12000, rng)
Xva, Yva = make_logbook(2000, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
SPEED_MEAN, SPEED_SD = float(Ytr.mean()), float(Ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
Ytr_m = mx.array((Ytr - SPEED_MEAN) / SPEED_SD)
Xva_m = mx.array((Xva - mu) / sd)
Yva_m = mx.array((Yva - SPEED_MEAN) / SPEED_SD)


def entry(watch, step, text):
    print(f"WATCH {watch} | step {step:04d}/{TOTAL_STEPS} | {text}", flush=True)


def sail(model, opt, watch, first, last, order_rng, t0):
    grad_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(first, last + 1):
        idx = mx.array(order_rng.integers(0, Xtr_m.shape[0], BATCH))
        loss, grads = grad_fn(model, Xtr_m[idx], Ytr_m[idx])
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if mx.abs(g).max().item() == 0.0]
            entry(watch, step, f"gradient check: {len(leaves)} leaves, "
                               f"all-zero leaves: {zero or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % LOG_EVERY == 0 or step == last:
            lr_used = float(opt.learning_rate.item())
            entry(watch, step,
                  f"lr {lr_used:.2e} | train mse (std units, last "
                  f"{len(window)}) {np.mean(window):.4f} | "
                  f"valid rms {rms_knots(model, Xva_m, Yva_m):.3f} kn | "
                  f"{time.time() - t0:.1f}s")
            window = []


t0 = time.time()
print(f"logbook: {Xtr.shape[0]} train / {Xva.shape[0]} valid readings, "
      f"speed mean {SPEED_MEAN:.2f} kn sd {SPEED_SD:.2f} kn, "
      f"sensor noise 0.15 kn", flush=True)

mx.random.seed(SEED)
order_rng = np.random.default_rng(SEED + 1)
model = Polar()
opt = make_optimizer()
mx.eval(model.parameters())
entry(1, 0, f"untrained valid rms {rms_knots(model, Xva_m, Yva_m):.3f} kn "
            f"(predict-mean would be {SPEED_SD * float(Yva_m.std().item()):.3f} kn)")

sail(model, opt, 1, 1, WATCH_STEPS, order_rng, t0)

with tempfile.TemporaryDirectory() as harbour:
    wpath = os.path.join(harbour, "polar.safetensors")
    opath = os.path.join(harbour, "polar_opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = rms_knots(model, Xva_m, Yva_m)
    del model, opt
    entry(1, WATCH_STEPS, f"checkpoint written ({os.path.getsize(wpath)} + "
                          f"{os.path.getsize(opath)} bytes), crew off watch")

    mx.random.seed(SEED + 99)          # a different init, overwritten below
    model = Polar()
    model.load_weights(wpath)
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    after = rms_knots(model, Xva_m, Yva_m)
    entry(2, WATCH_STEPS, f"resumed at optimizer step {int(opt.step.item())}, "
                          f"valid rms {before:.3f} -> {after:.3f} kn")

sail(model, opt, 2, WATCH_STEPS + 1, TOTAL_STEPS, order_rng, t0)

pred = np.array(model(Xva_m)) * SPEED_SD + SPEED_MEAN
err = np.abs(pred - Yva)
print(f"landfall: valid rms {rms_knots(model, Xva_m, Yva_m):.3f} kn, "
      f"{100 * np.mean(err < 0.3):.1f}% of readings within 0.3 kn, "
      f"total {time.time() - t0:.1f}s", flush=True)
