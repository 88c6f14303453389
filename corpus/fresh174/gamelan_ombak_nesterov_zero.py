"""Gamelan workshop: predict the ombak (beat rate, Hz) of a paired bar set.

Balinese gamelan instruments come in pairs (pengumbang / pengisep) tuned a few
cents apart so that they beat together.  The tuner measures a handful of things
on the bench and wants the beat rate the pair will give in the hall.

Synthetic data, small SiLU MLP, SGD with Nesterov momentum, learning rate that
ramps from exactly 0, a compiled train step, and `logging` output with a
closed-form linear reference printed next to the network.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("ombak")

rng = np.random.default_rng(17)


def make_bars(n):
    f0 = rng.uniform(220.0, 880.0, n)            # nominal pitch of the bar, Hz
    cents = rng.uniform(4.0, 30.0, n)            # deliberate detune between the pair
    thick = rng.uniform(6.0, 14.0, n)            # bar thickness, mm
    temp = rng.uniform(22.0, 34.0, n)            # hall temperature, C
    mallet = rng.uniform(0.0, 1.0, n)            # mallet hardness 0 soft .. 1 hard
    age = rng.uniform(0.0, 40.0, n)              # years since last retune
    # beat rate between the two bars, with a drift from temperature and ageing
    drift_cents = 0.35 * (temp - 28.0) - 0.12 * age * (thick / 10.0) ** -1
    eff = np.clip(cents + drift_cents, 0.5, None)
    beat = f0 * (2.0 ** (eff / 1200.0) - 1.0)
    beat = beat * (1.0 + 0.04 * (mallet - 0.5)) + rng.normal(0.0, 0.08, n)
    X = np.stack([f0, cents, thick, temp, mallet, age], axis=1).astype(np.float32)
    return X, beat.astype(np.float32)


Xtr, ytr = make_bars(1400)
Xva, yva = make_bars(400)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_n = (Xtr - mu) / sd
Xva_n = (Xva - mu) / sd
ymu, ysd = float(ytr.mean()), float(ytr.std())

# closed-form linear reference (least squares on the standardised features)
A = np.concatenate([Xtr_n, np.ones((len(Xtr_n), 1), np.float32)], 1)
w_ls, *_ = np.linalg.lstsq(A, ytr, rcond=None)
Ava = np.concatenate([Xva_n, np.ones((len(Xva_n), 1), np.float32)], 1)
ref_mae = float(np.abs(Ava @ w_ls - yva).mean())


class OmbakNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = OmbakNet()
mx.eval(model.parameters())

steps_per_epoch = 1400 // 50
epochs = 60
total = steps_per_epoch * epochs
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.03, warm), optim.cosine_decay(0.03, total - warm, 1e-4)],
    [warm],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def loss_fn(m, x, y):
    pred = m(x)
    return nn.losses.huber_loss(pred, (y - ymu) / ysd, delta=1.0, reduction="mean")


# every parameter must receive a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr_n[:64]), mx.array(ytr[:64]))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("grad check: %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), dead or "none")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_mae():
    pred = model(mx.array(Xva_n)) * ysd + ymu
    return float(mx.abs(pred - mx.array(yva)).mean())


log.info("bars train=%d val=%d  beat range %.2f..%.2f Hz  linear ref MAE %.3f Hz",
         len(ytr), len(yva), float(ytr.min()), float(ytr.max()), ref_mae)
t0 = time.time()
w_before = np.array(model.l1.weight)
for ep in range(1, epochs + 1):
    perm = rng.permutation(len(Xtr_n))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * 50:(b + 1) * 50]
        loss = step(mx.array(Xtr_n[idx]), mx.array(ytr[idx]))
        mx.eval(state, loss)
        run += float(loss)
        if ep == 1 and b == 0:
            moved = float(np.abs(np.array(model.l1.weight) - w_before).max())
            log.info("first step lr=%.4f, max |dW1| after it = %.2e (lr starts at zero)",
                     float(sched(mx.array(0))), moved)
    if ep % 5 == 0 or ep == 1:
        lr_now = float(sched(mx.array(ep * steps_per_epoch)))
        log.info("ep %03d lr=%.4f huber=%.4f val_mae=%.3f Hz (linear ref %.3f Hz)",
                 ep, lr_now, run / steps_per_epoch, val_mae(), ref_mae)

final = val_mae()
log.info("done in %.1fs: val MAE %.3f Hz vs linear %.3f Hz (%.0f%% of ref)",
         time.time() - t0, final, ref_mae, 100.0 * final / ref_mae)
