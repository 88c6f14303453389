"""Organ-pipe voicing model: predict the speaking pitch (in octaves above 16 Hz)
and the brightness of a flue pipe from its geometry.  Trained in three stages
(open pipes -> + stopped pipes -> + high wind pressure), each stage re-warming the
learning rate from exactly zero.  Errors are reported in cents."""
import math
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)
SOUND = 343.0


def voice(n, stopped_frac, pressure_hi):
    rows, tgts = [], []
    for _ in range(n):
        L = random.uniform(0.15, 2.4)               # speaking length, m
        D = L * random.uniform(0.04, 0.12)          # scale (diameter), m
        cut = random.uniform(0.2, 0.35)             # cut-up ratio
        stopped = 1.0 if random.random() < stopped_frac else 0.0
        P = random.uniform(60, 90) if not pressure_hi else random.uniform(60, 180)  # mm WG
        end = 0.6 * D
        f = SOUND / ((4.0 if stopped else 2.0) * (L + end))
        f *= 1.0 + 0.0009 * (P - 75.0)              # wind pushes pitch sharp
        octv = math.log2(f / 16.0)
        bright = 0.8 * math.log(P / 75.0) - 2.0 * (cut - 0.27) + (-0.6 if stopped else 0.0)
        rows.append([math.log(L), math.log(D), cut, stopped, P / 100.0])
        tgts.append([octv, bright])
    return mx.array(rows), mx.array(tgts)


class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.pitch = nn.Linear(48, 1)
        self.tone = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return mx.concatenate([self.pitch(h), self.tone(h)], axis=-1)


def loss_fn(model, x, y):
    p = model(x)
    return mx.mean(mx.square(p[:, 0] - y[:, 0])) + 0.3 * mx.mean(mx.square(p[:, 1] - y[:, 1]))


model = Voicer()
mx.eval(model.parameters())

STAGES = [("open", 0.0, False, 300), ("stopped", 0.5, False, 300), ("high-wind", 0.5, True, 300)]
WARM, PEAK = 60, 4e-3

for sname, sfrac, hi, steps in STAGES:
    xtr, ytr = voice(1024, sfrac, hi)
    xva, yva = voice(256, sfrac, hi)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, steps - WARM, 1e-4)], [WARM])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, g)
        return loss

    ref_cents = 1200.0 * mx.sqrt(mx.mean(mx.square(yva[:, 0] - mx.mean(ytr[:, 0])))).item()
    print(f"--- stage {sname}: {steps} steps, stopped={sfrac:.0%}, wind {'60-180' if hi else '60-90'} mmWG ---")
    print(f"{'step':>5} | {'lr':>9} | {'train':>8} | {'pitch err':>12} | {'tone rmse':>9} | {'ref(mean)':>12}")
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, xtr.shape[0], (64,))
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if it == 1 or it % 50 == 0:
            pv = model(xva)
            cents = 1200.0 * mx.sqrt(mx.mean(mx.square(pv[:, 0] - yva[:, 0]))).item()
            tone = mx.sqrt(mx.mean(mx.square(pv[:, 1] - yva[:, 1]))).item()
            lr_used = sched(mx.array(it - 1)).item()
            print(f"{it:>5} | {lr_used:>9.2e} | {loss.item():>8.4f} | {cents:>7.1f} cents | {tone:>9.4f} | {ref_cents:>6.1f} cents")

pv = model(xva)
print(f"final: pitch rms {1200.0 * mx.sqrt(mx.mean(mx.square(pv[:, 0] - yva[:, 0]))).item():.1f} cents "
      f"over {xva.shape[0]} validation pipes")
