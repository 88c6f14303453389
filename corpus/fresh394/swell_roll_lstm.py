"""Ship roll forecasting: LSTM next-step model trained with scheduled sampling.

Roll angle (deg) of a small vessel in beam seas, simulated as a damped oscillator
with a mildly nonlinear restoring moment, driven by a known wave-slope record.
Inputs per step: previous roll (scaled) and the current wave slope.
During training the previous-roll input is the logged value with probability p,
otherwise the model's own previous output; p goes 1 -> 0 over the run.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

DT, STEPS = 0.5, 48
WARM = 10            # steps always fed with the log before the rollout part
SCALE = 10.0


def simulate(n):
    rolls = np.zeros((n, STEPS), np.float32)
    waves = np.zeros((n, STEPS), np.float32)
    for i in range(n):
        w0 = rng.uniform(0.55, 0.75)
        zeta = rng.uniform(0.04, 0.10)
        amp = rng.uniform(2.0, 6.0)
        comps = [(rng.uniform(0.4, 0.9), rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.0)) for _ in range(3)]
        x, v = rng.normal(0, 2.0), rng.normal(0, 0.5)
        for t in range(STEPS):
            tt = t * DT
            f = amp * sum(a * math.sin(om * tt + ph) for om, ph, a in comps) / 2.0
            waves[i, t] = f
            for _ in range(5):
                acc = f * 0.3 - 2 * zeta * w0 * v - w0 ** 2 * (x + 0.004 * x ** 3)
                v += acc * DT / 5
                x += v * DT / 5
            rolls[i, t] = x + rng.normal(0, 0.15)
    return rolls / SCALE, waves / SCALE


class RollNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.cell = nn.LSTM(2, hidden)
        self.out = nn.Linear(hidden, 1)

    def step(self, roll_prev, wave, h, c):
        x = mx.stack([roll_prev, wave], axis=-1)[:, None, :]
        hs, cs = self.cell(x, hidden=h, cell=c)
        h, c = hs[:, -1], cs[:, -1]
        return roll_prev + self.out(h)[:, 0], h, c

    def rollout(self, rolls, waves, coins):
        h = c = None
        prev = rolls[:, 0]
        preds = []
        for t in range(1, STEPS):
            y, h, c = self.step(prev, waves[:, t], h, c)
            preds.append(y)
            if t < WARM:
                prev = rolls[:, t]
            else:
                prev = mx.where(coins[:, t], rolls[:, t], mx.stop_gradient(y))
        return mx.stack(preds, axis=1)


def loss_fn(model, rolls, waves, coins):
    pred = model.rollout(rolls, waves, coins)
    return mx.mean((pred[:, WARM - 1:] - rolls[:, WARM:]) ** 2)


def free_run_rmse(model, rolls, waves):
    pred = model.rollout(rolls, waves, mx.zeros(rolls.shape, dtype=mx.bool_))
    err = (pred[:, WARM - 1:] - rolls[:, WARM:]) * SCALE
    return math.sqrt(mx.mean(err ** 2).item())


tr_r, tr_w = simulate(1600)
va_r, va_w = simulate(200)
tr_r, tr_w, va_r, va_w = map(mx.array, (tr_r, tr_w, va_r, va_w))
hold = va_r[:, WARM - 1:WARM] * SCALE
hold_rmse = math.sqrt(mx.mean((va_r[:, WARM:] * SCALE - hold) ** 2).item())
zero_rmse = math.sqrt(mx.mean((va_r[:, WARM:] * SCALE) ** 2).item())

model = RollNet()
TOTAL, BS = 320, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 50),
                              optim.cosine_decay(4e-3, TOTAL - 50, 2e-4)], [50])
opt = optim.Adamax(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)


@partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
def train_step(rolls, waves, coins):
    loss, grads = step_fn(model, rolls, waves, coins)
    opt.update(model, grads)
    return loss

print("---")
print("run: swell-roll forecaster")
print(f"train_voyages: {tr_r.shape[0]}")
print(f"valid_voyages: {va_r.shape[0]}")
print(f"rollout_steps: {STEPS - WARM}")
print(f"baseline_hold_last_deg: {hold_rmse:.3f}")
print(f"baseline_zero_roll_deg: {zero_rmse:.3f}")
print(f"untrained_free_run_deg: {free_run_rmse(model, va_r, va_w):.3f}")

t0 = time.time()
win = []
for it in range(1, TOTAL + 1):
    p_log = max(0.0, 1.0 - it / (0.7 * TOTAL))
    coins = mx.array(rng.random((BS, STEPS)) < p_log)
    idx = mx.array(rng.integers(0, tr_r.shape[0], BS))
    lr_used = opt.learning_rate.item() if it > 1 else 0.0
    if it == 1:
        _, g0 = step_fn(model, tr_r[idx], tr_w[idx], coins)
        leaves = [g for _, g in tree_flatten(g0)]
        nz = sum(1 for g in leaves if mx.any(g != 0).item())
        print("---")
        print(f"first_update: {{lr_used: {lr_used}, grad_arrays: {len(leaves)}, nonzero: {nz}}}")
    loss = train_step(tr_r[idx], tr_w[idx], coins)
    mx.eval(model.state, opt.state, loss)
    win.append(loss.item())
    if it % 40 == 0:
        print("---")
        print(f"iteration: {it}")
        print(f"p_logged_input: {p_log:.3f}")
        print(f"lr: {lr_used:.2e}")
        print(f"train_mse_scaled: {np.mean(win):.5f}")
        print(f"valid_free_run_deg: {free_run_rmse(model, va_r, va_w):.3f}")
        print(f"elapsed_s: {time.time() - t0:.1f}")
        win = []
print("---")
print(f"final_free_run_deg: {free_run_rmse(model, va_r, va_w):.3f}  # vs hold-last {hold_rmse:.3f}")
print("...")
