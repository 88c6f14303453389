"""Thatched-roof survey: water-reed bundles.

Two tasks from one shared trunk:
  * expected roof life in years (regression, Huber on standardised target)
  * moss-risk flag within 5 years (binary)
Task weights follow Dynamic Weight Average (Liu et al. 2019): each epoch the
weight of a task grows when its loss fell slowly over the last two epochs.
The learning rate warms up from exactly 0.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s thatch: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("thatch")

rng = np.random.default_rng(2187)
N_TRAIN, N_VAL, D = 3000, 600, 7


def make(n):
    pitch = rng.uniform(40, 60, n)                 # roof pitch, degrees
    reed_len = rng.normal(1.6, 0.2, n)             # m
    density = rng.normal(0.0, 1.0, n)              # bundle packing, z
    shade = rng.uniform(0, 1, n)                   # tree cover fraction
    rain = rng.normal(0.0, 1.0, n)                 # annual rainfall, z
    coat = rng.normal(0.0, 1.0, n)                 # coat thickness, z
    ridge = rng.integers(0, 2, n).astype(float)    # block-cut ridge?
    life = (32 + 0.55 * (pitch - 50) + 6 * (reed_len - 1.6) + 3.0 * density
            - 5.0 * shade - 2.5 * rain + 2.2 * coat + 1.5 * ridge
            - 1.2 * shade * rain + rng.normal(0, 1.8, n))
    z = -1.2 + 2.8 * shade + 1.1 * rain - 0.05 * (pitch - 50) - 0.6 * density
    moss = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    x = np.stack([(pitch - 50) / 6, (reed_len - 1.6) / 0.2, density, shade * 2 - 1, rain, coat,
                  ridge * 2 - 1], 1)
    return x.astype(np.float32), life.astype(np.float32), moss


xtr, ytr, mtr = make(N_TRAIN)
xva, yva, mva = make(N_VAL)
mu, sd = ytr.mean(), ytr.std()
Xtr, Ytr, Mtr = mx.array(xtr), mx.array((ytr - mu) / sd), mx.array(mtr)
Xva, Yva, Mva = mx.array(xva), mx.array((yva - mu) / sd), mx.array(mva)


class Roof(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = [nn.Linear(D, 48), nn.Linear(48, 48)]
        self.life_head = nn.Linear(48, 1)
        self.moss_head = nn.Linear(48, 1)

    def __call__(self, x):
        for layer in self.trunk:
            x = nn.gelu(layer(x))
        return self.life_head(x).squeeze(-1), self.moss_head(x).squeeze(-1)


def task_losses(model, x, y, m):
    life, moss = model(x)
    l_life = nn.losses.huber_loss(life, y, delta=1.0, reduction="mean")
    l_moss = nn.losses.binary_cross_entropy(moss, m, with_logits=True, reduction="mean")
    return l_life, l_moss


def weighted(model, x, y, m, w):
    l_life, l_moss = task_losses(model, x, y, m)
    return w[0] * l_life + w[1] * l_moss, (l_life, l_moss)


model = Roof()
mx.eval(model.parameters())

EPOCHS, BS = 24, 100
steps_per_epoch = N_TRAIN // BS
warm = 3 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, (EPOCHS * steps_per_epoch) - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

lg = nn.value_and_grad(model, weighted)

T = 2.0
hist = []  # per-epoch mean task losses
w = mx.array([1.0, 1.0])
base_mae = float(np.abs(yva - ytr.mean()).mean())
base_bce = float(-(mva * math.log(mtr.mean()) + (1 - mva) * math.log(1 - mtr.mean())).mean())
log.info("baseline (train mean / prior rate): val MAE %.2f yr, val BCE %.4f nats", base_mae, base_bce)

for ep in range(1, EPOCHS + 1):
    if len(hist) >= 2:
        r = np.array(hist[-1]) / np.array(hist[-2])
        e = np.exp(r / T)
        w = mx.array((2 * e / e.sum()).astype(np.float32))
    perm = mx.array(rng.permutation(N_TRAIN))
    sums = np.zeros(3)
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        (tot, (a, c)), g = lg(model, Xtr[idx], Ytr[idx], Mtr[idx], w)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot, a, c)
        sums += (tot.item(), a.item(), c.item())
    sums /= steps_per_epoch
    hist.append([sums[1], sums[2]])

    life, moss = model(Xva)
    mae = mx.mean(mx.abs(life * sd + mu - mx.array(yva))).item()
    vbce = nn.losses.binary_cross_entropy(moss, Mva, with_logits=True, reduction="mean").item()
    acc = mx.mean((moss > 0) == (Mva > 0.5)).item()
    log.info("ep %02d lr %.2e w=[%.3f %.3f] weighted %.4f | huber %.4f bce %.4f | val MAE %.2f yr "
             "(ref %.2f) bce %.4f (ref %.4f) acc %.1f%%", ep, float(opt.learning_rate), w[0].item(),
             w[1].item(), sums[0], sums[1], sums[2], mae, base_mae, vbce, base_bce, 100 * acc)

log.info("done: roof-life MAE %.2f yr vs %.2f baseline, moss acc %.1f%%", mae, base_mae, 100 * acc)
