"""Elevator parking policy: learn where an idle car should wait.

A 12-floor building, one car. When the car goes idle we pick one of 4 parking
floors (0, 3, 6, 9). The next call arrives from a floor drawn from a
time-of-day dependent distribution; the reward is minus the travel time in
seconds. We learn a wait-time regressor Q(context, action) from a replay
buffer that fills up to a fixed capacity (FIFO afterwards) and act
epsilon-greedily on it.
"""
import logging
import math
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s lift: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("lift")

rng = np.random.default_rng(7)
mx.random.seed(7)
PARK = np.array([0, 3, 6, 9])
FLOORS = 12
SEC_PER_FLOOR = 1.6
DOOR = 4.0
CAPACITY = 6000


def call_floor_probs(hour):
    # morning: lobby-heavy; lunch: floor 6 canteen; evening: upper floors
    base = np.ones(FLOORS)
    base[0] += 10.0 * math.exp(-((hour - 8.5) ** 2) / 1.5)
    base[6] += 8.0 * math.exp(-((hour - 12.5) ** 2) / 0.8)
    base[8:] += 3.0 * math.exp(-((hour - 17.5) ** 2) / 2.0)
    return base / base.sum()


def context(hour, weekday):
    a = 2 * math.pi * hour / 24
    return np.array([math.sin(a), math.cos(a), float(weekday), hour / 24.0], np.float32)


def wait_time(park, hour, weekday):
    p = call_floor_probs(hour) if weekday else np.ones(FLOORS) / FLOORS
    f = rng.choice(FLOORS, p=p)
    return DOOR + SEC_PER_FLOOR * abs(f - park) + rng.normal(0, 1.0)


class WaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, len(PARK))

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def loss_fn(model, x, a, y):
    q = model(x)
    pred = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    return nn.losses.huber_loss(pred, y, delta=1.0, reduction="mean")


model = WaitNet()
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)
buffer = deque(maxlen=CAPACITY)

# evaluation contexts: exact expected wait of each parking floor
eval_ctx, eval_best = [], []
for h in np.linspace(6, 22, 33):
    for wd in (0, 1):
        p = call_floor_probs(h) if wd else np.ones(FLOORS) / FLOORS
        exp_wait = [DOOR + SEC_PER_FLOOR * np.sum(p * np.abs(np.arange(FLOORS) - pk)) for pk in PARK]
        eval_ctx.append(context(h, wd))
        eval_best.append(exp_wait)
eval_ctx = mx.array(np.stack(eval_ctx))
eval_best = np.array(eval_best)


def greedy_expected_wait():
    choice = np.array(mx.argmin(model(eval_ctx), axis=1))
    return float(eval_best[np.arange(len(choice)), choice].mean()), float(eval_best.min(1).mean())


t0 = time.time()
log.info("buffer capacity %d transitions, parking floors %s", CAPACITY, PARK.tolist())
w0, oracle = greedy_expected_wait()
log.info("untrained greedy mean wait %.2fs (oracle %.2fs, always-lobby %.2fs)", w0, oracle,
         float(eval_best[:, 0].mean()))

ROUNDS, PER_ROUND, BATCH, UPDATES = 400, 40, 128, 4
recent = deque(maxlen=400)
for r in range(1, ROUNDS + 1):
    eps = max(0.05, 1.0 - r / 150)
    # collect: the car goes idle PER_ROUND times
    for _ in range(PER_ROUND):
        hour = rng.uniform(6, 22)
        wd = int(rng.random() < 5 / 7)
        ctx = context(hour, wd)
        if rng.random() < eps:
            a = int(rng.integers(len(PARK)))
        else:
            a = int(mx.argmin(model(mx.array(ctx[None])), axis=1).item())
        w = wait_time(PARK[a], hour, wd)
        buffer.append((ctx, a, w))
        recent.append(w)
    for k in range(UPDATES):
        idx = rng.integers(len(buffer), size=BATCH)
        xs = mx.array(np.stack([buffer[i][0] for i in idx]))
        acts = mx.array(np.array([buffer[i][1] for i in idx], np.int32))
        # targets in "seconds above 10 s, in units of 4 s"
        ys = mx.array((np.array([buffer[i][2] for i in idx], np.float32) - 10.0) / 4.0)
        loss, grads = step_fn(model, xs, acts, ys)
        if r == 1 and k == 0:
            leaves = tree_flatten(grads)
            zero = [n for n, g in leaves if float(mx.abs(g).max()) == 0.0]
            log.info("first update: %d gradient leaves, %d all-zero %s, huber %.3f", len(leaves),
                     len(zero), zero, loss.item())
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    if r % 40 == 0:
        gw, _ = greedy_expected_wait()
        log.info("round %3d  buffer %4d/%d  eps %.2f  huber %.3f  observed_wait %.2fs  "
                 "greedy_wait %.2fs  regret %.2fs  %.1fs", r, len(buffer), CAPACITY, eps,
                 loss.item(), float(np.mean(recent)), gw, gw - oracle, time.time() - t0)

gw, _ = greedy_expected_wait()
log.info("done: greedy mean wait %.2fs vs oracle %.2fs (untrained %.2fs)", gw, oracle, w0)
