"""Ski resort: wait time in a chairlift queue with a predictive spread.

A mean network and a separate spread network are trained with a Gaussian
negative log-likelihood (it goes below zero once the spread is learned).
Each sub-network has its own optimizer: the mean net uses AdamW with warm
restarts (progress stalls for a while after each restart), the spread net uses
Nesterov SGD.  Gradients are accumulated over 4 micro-batches.  Logging is
sparse: one line every 250 optimizer steps, plus an evaluation per cycle.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(2681)


def make_queue_log(n):
    queue = rng.uniform(5, 400, n)              # people in the maze
    capacity = rng.choice([24.0, 40.0, 60.0], n)  # people per minute at full load
    gust = rng.gamma(2.0, 3.0, n)               # m/s
    hour = rng.uniform(8.5, 16.5, n)
    school = (rng.random(n) < 0.25).astype(np.float64)
    snow = (rng.random(n) < 0.3).astype(np.float64)
    temp = rng.normal(-6, 5, n)
    load = 0.92 - 0.15 * school - 0.05 * snow - 0.01 * np.clip(-temp - 10, 0, None)
    slow = 1 + 0.04 * np.clip(gust - 8, 0, None) ** 1.5
    wait = queue / (capacity * load) * slow + 0.6
    spread = 0.3 + 0.12 * gust + 0.02 * queue / 10 * school
    y = wait + spread * rng.standard_normal(n)
    x = np.stack([np.log(queue), capacity / 60, gust, np.sin(2 * np.pi * hour / 24),
                  np.cos(2 * np.pi * hour / 24), school, snow, temp], 1)
    board = queue / capacity + 0.6              # what the lift board posts
    return x.astype(np.float32), y.astype(np.float32), board.astype(np.float32)


x_tr, y_tr, _ = make_queue_log(16000)
x_va, y_va, board_va = make_queue_log(3000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
X_tr, Y_tr = mx.array(x_tr), mx.array((y_tr - y_mu) / y_sd)
X_va = mx.array(x_va)


class QueueModel(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.mean_net = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                      nn.Linear(width, width), nn.SiLU(),
                                      nn.Linear(width, 1))
        self.spread_net = nn.Sequential(nn.Linear(d_in, 16), nn.Tanh(), nn.Linear(16, 1))

    def __call__(self, x):
        return self.mean_net(x).squeeze(-1), self.spread_net(x).squeeze(-1)


def nll(model, x, y):
    m, log_s = model(x)
    log_s = mx.clip(log_s, -6.0, 3.0)
    return mx.mean(0.5 * math.log(2 * math.pi) + log_s + 0.5 * ((y - m) * mx.exp(-log_s)) ** 2)


def evaluate(model):
    m, log_s = model(X_va)
    m = np.array(m) * y_sd + y_mu
    s = np.exp(np.clip(np.array(log_s), -6, 3)) * y_sd
    mae = float(np.mean(np.abs(m - y_va)))
    inside = float(np.mean(np.abs(y_va - m) <= 1.2816 * s))   # central 80%
    z = (y_va - m) / s
    val_nll = float(np.mean(0.5 * np.log(2 * np.pi) + np.log(s / y_sd) + 0.5 * z ** 2))
    return mae, inside, val_nll


MICRO, ACCUM = 64, 4
CYCLE, N_CYCLES = 400, 3
TOTAL = CYCLE * N_CYCLES


def restarts(peak, floor):
    sched = [optim.cosine_decay(peak, CYCLE, floor) for _ in range(N_CYCLES)]
    return optim.join_schedules(sched, [CYCLE * k for k in range(1, N_CYCLES)])


mx.random.seed(11)
model = QueueModel()
opt_mean = optim.AdamW(learning_rate=restarts(3e-3, 1e-4), weight_decay=1e-4)
opt_spread = optim.SGD(learning_rate=2e-2, momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, nll)

board_mae = float(np.mean(np.abs(board_va - y_va)))
const_mae = float(np.mean(np.abs(np.median(y_tr) - y_va)))
print(f"queue log train {len(x_tr)} val {len(x_va)} | baselines: lift-board MAE {board_mae:.2f} min, "
      f"median MAE {const_mae:.2f} min")
mae, cov, vn = evaluate(model)
print(f"step     0 | val MAE {mae:.2f} min  80% cover {cov:.2f}  val nll {vn:+.3f}")

t0 = time.time()
window = []
for step in range(1, TOTAL + 1):
    acc = None
    for _ in range(ACCUM):
        idx = mx.array(rng.integers(0, len(x_tr), MICRO))
        loss, g = grad_fn(model, X_tr[idx], Y_tr[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        window.append(loss)
    acc = tree_map(lambda a: a / ACCUM, acc)
    opt_mean.update(model.mean_net, acc["mean_net"])
    opt_spread.update(model.spread_net, acc["spread_net"])
    mx.eval(model.parameters(), opt_mean.state, opt_spread.state)
    if step % 250 == 0:
        print(f"step {step:5d} | train nll {mx.mean(mx.stack(window)).item():+.3f} "
              f"lr mean {opt_mean.learning_rate.item():.2e}")
        window = []
    if step % CYCLE == 0:
        mae, cov, vn = evaluate(model)
        print(f"cycle {step // CYCLE} done (step {step}) | val MAE {mae:.2f} min  80% cover {cov:.2f}  "
              f"val nll {vn:+.3f} | board {board_mae:.2f}")

mae, cov, vn = evaluate(model)
print(f"final | val MAE {mae:.2f} min vs board {board_mae:.2f} | 80% interval cover {cov:.2f} | "
      f"val nll {vn:+.3f} | {time.time() - t0:.1f}s")
