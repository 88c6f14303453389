"""Groundsman's notebook: how high and how sideways does the ball go off this pitch?

Two targets per delivery: bounce height at the stumps (cm) and seam deviation (cm),
from 7 readings: soil moisture, grass length, clay %, roller passes, match day (1-5),
ball age (overs) and delivery speed. Day 4-5 pitches crack, so they are noisier and
harder; they are only added in the second stage (curriculum), with the learning rate
warmed up again from exactly 0. The hidden nonlinearity is a soft-clipped tanh whose
backward pass is written by hand with mx.custom_function.
"""
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2024)
mx.random.seed(2024)


def deliveries(n, days):
    moist = rng.uniform(8, 30, n)
    grass = rng.uniform(2, 12, n)
    clay = rng.uniform(20, 55, n)
    roll = rng.integers(2, 20, n).astype(np.float64)
    day = rng.choice(days, n).astype(np.float64)
    overs = rng.uniform(0, 80, n)
    speed = rng.uniform(110, 150, n)
    hard = clay / 50 + roll / 25 - moist / 40
    bounce = 70 + 18 * np.tanh(hard) + 0.35 * (speed - 130) - 2.5 * (day - 1) - 0.08 * overs
    crack = np.maximum(day - 3, 0)
    bounce += crack * rng.normal(0, 6, n)
    seam = 4.0 * np.exp(-overs / 25) * (grass / 8) + 0.8 * moist / 20 + crack * np.abs(rng.normal(0, 3, n))
    bounce += rng.normal(0, 2.0, n)
    seam += rng.normal(0, 0.6, n)
    X = np.stack([moist, grass, clay, roll, day, overs, speed], 1)
    Y = np.stack([bounce, seam], 1)
    return X.astype(np.float32), Y.astype(np.float32)


X_a, Y_a = deliveries(3000, [1, 2, 3])
X_b, Y_b = deliveries(3000, [1, 2, 3, 4, 5])
X_te, Y_te = deliveries(1000, [1, 2, 3, 4, 5])
x_mu, x_sd = X_b.mean(0), X_b.std(0)
y_mu, y_sd = Y_b.mean(0), Y_b.std(0)


def prep(X, Y):
    return mx.array((X - x_mu) / x_sd), mx.array((Y - y_mu) / y_sd)


@mx.custom_function
def soft_clip(x):
    return 2.5 * mx.tanh(x / 2.5)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals
    t = mx.tanh(x / 2.5)
    return cotangent * (1 - t * t)


class PitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.mid = nn.Linear(64, 64)
        self.bounce_head = nn.Linear(64, 1)
        self.seam_head = nn.Linear(64, 1)

    def __call__(self, x):
        h = soft_clip(self.inp(x))
        h = soft_clip(self.mid(h)) + h
        return self.bounce_head(h), self.seam_head(h)


def losses(model, x, y):
    b, s = model(x)
    lb = ((b[:, 0] - y[:, 0]) ** 2).mean()
    ls = ((s[:, 0] - y[:, 1]) ** 2).mean()
    return lb + ls, (lb, ls)


def total(model, x, y):
    t, _ = losses(model, x, y)
    return t


model = PitchNet()
mx.eval(model.parameters())
loss_grad = nn.value_and_grad(model, total)
Xt, Yt = prep(X_te, Y_te)


def bar(done, width=20):
    k = int(round(width * done))
    return "#" * k + "." * (width - k)


def stage(name, X, Y, steps, peak):
    warm = steps // 5
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    Xs, Ys = prep(X, Y)
    n = Xs.shape[0]
    t0 = time.time()
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, n, (128,))
        lr_now = opt.learning_rate.item()
        tot, g = loss_grad(model, Xs[idx], Ys[idx])
        opt.update(model, g)
        mx.eval(tot, model.parameters(), opt.state)
        if it == 1 or it % 100 == 0 or it == steps:
            _, (lb, ls) = losses(model, Xt, Yt)
            rb = math.sqrt(lb.item()) * y_sd[0]
            rs = math.sqrt(ls.item()) * y_sd[1]
            sys.stdout.write(
                f"{name} |{bar(it / steps)}| {it:4d}/{steps} [{time.time() - t0:4.1f}s, lr={lr_now:.2e}] "
                f"batch={tot.item():.4f} test_bounce_rmse={rb:.2f}cm test_seam_rmse={rs:.2f}cm\n")
    sys.stdout.flush()


b0, s0 = model(Xt)
print(f"zero-skill reference: bounce sd {y_sd[0]:.2f} cm, seam sd {y_sd[1]:.2f} cm")
stage("days1-3", X_a, Y_a, 600, 2e-3)
stage("days1-5", X_b, Y_b, 900, 2e-3)
_, (lb, ls) = losses(model, Xt, Yt)
print(f"final: bounce rmse {math.sqrt(lb.item()) * y_sd[0]:.2f} cm (sd {y_sd[0]:.2f}), "
      f"seam rmse {math.sqrt(ls.item()) * y_sd[1]:.2f} cm (sd {y_sd[1]:.2f})")
