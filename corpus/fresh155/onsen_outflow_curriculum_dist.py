"""Hot-spring pool (onsen) outflow temperature model.

Predict the bathing-pool outflow temperature (deg C) from six readings taken by the
attendant. Trained with a data-parallel step (mx.distributed, one rank here), a
linear warm-up from lr 0, and a three-stage curriculum: calm days first, then
windy / snowy days, then everything.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s onsen: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("onsen")

group = mx.distributed.init()
rank, world = group.rank(), group.size()
rng = random.Random(1234 + rank)


def make_day():
    source_flow = rng.uniform(4.0, 20.0)      # L/min from the spring
    source_temp = rng.uniform(52.0, 68.0)     # deg C at the vent
    air_temp = rng.uniform(-12.0, 24.0)
    wind = rng.expovariate(1 / 3.0)           # m/s
    mix_valve = rng.uniform(0.0, 1.0)         # cold-water mix fraction
    snowing = 1.0 if (air_temp < 1.0 and rng.random() < 0.5) else 0.0
    # made-up mixing / surface-loss law
    mixed = source_temp * (1 - 0.55 * mix_valve) + 10.0 * 0.55 * mix_valve
    h = (0.9 + 0.35 * wind + 2.5 * snowing) * 3.2 / (source_flow + 6.0)
    out = air_temp + (mixed - air_temp) * math.exp(-0.35 * h) + rng.gauss(0.0, 0.4)
    x = [source_flow, source_temp, air_temp, wind, mix_valve, snowing]
    hard = wind > 4.0 or snowing > 0
    return x, out, hard


days = [make_day() for _ in range(6000)]
train, val = days[:5000], days[5000:]
cols = list(zip(*[d[0] for d in train]))
mu = [sum(c) / len(c) for c in cols]
sd = [math.sqrt(sum((v - m) ** 2 for v in c) / len(c)) for c, m in zip(cols, mu)]


def tensors(rows):
    X = mx.array([[(v - m) / s for v, m, s in zip(r[0], mu, sd)] for r in rows])
    y = mx.array([r[1] for r in rows])
    return X, y


Xv, yv = tensors(val)
y_mean = sum(r[1] for r in train) / len(train)
y_sd = math.sqrt(sum((r[1] - y_mean) ** 2 for r in train) / len(train))
base_mae = mx.abs(yv - y_mean).mean().item()

stages = [
    ("calm days", [d for d in train if not d[2]], 25),
    ("wind+snow days", [d for d in train if d[2]], 25),
    ("all days", train, 30),
]


class Outflow(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1) * y_sd + y_mean


def mse(model, X, y):
    return nn.losses.mse_loss((model(X) - y) / y_sd, mx.zeros_like(y))


model = Outflow()
mx.eval(model.parameters())
BATCH = 64
steps_total = sum(math.ceil(len(rows) / BATCH) * ep for _, rows, ep in stages)
warm = 150
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.02, warm), optim.cosine_decay(0.02, steps_total - warm, 1e-4)], [warm])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
loss_and_grad = nn.value_and_grad(model, mse)


def allreduce(grads):
    if world == 1:
        return grads
    from mlx.utils import tree_map
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)


log.info("rank %d of %d, %d train / %d val days, baseline MAE (predict mean) %.2f C",
         rank, world, len(train), len(val), base_mae)
step = 0
for s_idx, (name, rows, epochs) in enumerate(stages, 1):
    Xs, ys = tensors(rows)
    n = Xs.shape[0]
    log.info("stage %d/3 '%s': %d days, %d epochs", s_idx, name, n, epochs)
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(n)
        tot, cnt, gn = 0.0, 0, 0.0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = loss_and_grad(model, Xs[idx], ys[idx])
            grads = allreduce(grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        if ep == 1 or ep % 5 == 0:
            gn = math.sqrt(sum((g * g).sum().item() for _, g in
                               __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)))
            pred = model(Xv)
            mae = mx.abs(pred - yv).mean().item()
            within = (mx.abs(pred - yv) < 1.0).mean().item() * 100
            log.info("stage %d ep %2d | train mse(z) %.4f | val mae %.2f C (baseline %.2f) | within 1C %5.1f%% "
                     "| lr %.4f | |g| %.3f", s_idx, ep, tot / cnt, mae, base_mae, within,
                     opt.learning_rate.item(), gn)

pred = model(Xv)
mae = mx.abs(pred - yv).mean().item()
log.info("final: val MAE %.2f C vs baseline %.2f C (%.0f%% lower), %d steps",
         mae, base_mae, 100 * (1 - mae / base_mae), step)
