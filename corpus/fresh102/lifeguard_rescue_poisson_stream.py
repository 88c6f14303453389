"""Beach lifeguard service: hourly rescue counts, learned online.

Each simulated day brings 24 hourly logs from each of 20 towers. New logs go into
a rolling buffer (oldest dropped once it holds MAX_ROWS), and the model takes a
fixed number of minibatch steps from the buffer every day. Poisson regression on
the log-rate, true NLL per tower-hour (incl. log y!).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

TOWERS = 20
DAYS = 60
MAX_ROWS = 9600          # twenty days of logs, then the buffer holds its size
STEPS_PER_DAY = 80
BATCH = 192

rng = np.random.default_rng(11)


def simulate_day(day, n_towers=TOWERS):
    hour = np.tile(np.arange(24), n_towers)
    tower = np.repeat(np.arange(n_towers), 24)
    season = math.sin(2 * math.pi * (day % 60) / 60.0)
    sun = np.clip(np.sin((hour - 6) / 14 * np.pi), 0, None) * (0.6 + 0.4 * rng.random())
    water_t = 19 + 3 * season + rng.normal(0, 0.7, hour.shape)
    wave = np.abs(rng.normal(1.1, 0.5, hour.shape))
    rip = (rng.random(hour.shape) < 0.12 + 0.04 * (tower % 5 == 0)).astype(np.float64)
    crowd = np.log1p(400 * sun * (1 + 0.3 * (water_t - 19) / 3) * (0.5 + (tower % 4) / 4))
    x = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  sun, (water_t - 19) / 3, wave, rip, crowd / 5,
                  (tower % 4) / 3], axis=1)
    log_rate = (-3.3 + 0.55 * crowd + 0.9 * rip * wave + 0.35 * np.maximum(wave - 1.5, 0) ** 2
                - 0.2 * (water_t - 19) / 3)
    y = rng.poisson(np.exp(log_rate))
    return x.astype(np.float32), y.astype(np.float32), np.exp(log_rate)


class RescueRate(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.Tanh(),
                                  nn.Linear(width, width), nn.Tanh())
        self.log_rate = nn.Linear(width, 1)

    def __call__(self, x):
        return self.log_rate(self.body(x)).squeeze(-1)


def poisson_nll(model, x, y, log_fact):
    lr = model(x)
    return mx.mean(mx.exp(lr) - y * lr + log_fact)


def log_factorial(y):
    return np.array([math.lgamma(v + 1.0) for v in y], dtype=np.float32)


def deviance(y, mu):
    y = np.asarray(y, np.float64)
    mu = np.asarray(mu, np.float64)
    term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0)
    return 2 * np.sum(term - (y - mu))


# held-out logs from 6 extra days (same point of the 60-day season as days 5..55), simulated up front
test_parts = [simulate_day(d) for d in (65, 75, 85, 95, 105, 115)]
x_test = np.concatenate([p[0] for p in test_parts])
y_test = np.concatenate([p[1] for p in test_parts])
mu_true = np.concatenate([p[2] for p in test_parts])
null_dev = deviance(y_test, np.full_like(y_test, y_test.mean()))
oracle_nll = float(np.mean(mu_true - y_test * np.log(mu_true) + log_factorial(y_test)))

mx.random.seed(3)
model = RescueRate()
opt = optim.AdaDelta(learning_rate=0.5, rho=0.95)
step_fn = nn.value_and_grad(model, poisson_nll)

buf_x = np.zeros((0, 8), np.float32)
buf_y = np.zeros((0,), np.float32)
buf_lf = np.zeros((0,), np.float32)

print("| day | rows in buffer | buffer KiB | train NLL | test NLL | deviance explained | pred/obs total |")
print("|-----+----------------+------------+-----------+----------+--------------------+----------------|")
t0 = time.time()
checked = False
for day in range(1, DAYS + 1):
    x_new, y_new, _ = simulate_day(day)
    buf_x = np.concatenate([buf_x, x_new])[-MAX_ROWS:]
    buf_y = np.concatenate([buf_y, y_new])[-MAX_ROWS:]
    buf_lf = np.concatenate([buf_lf, log_factorial(y_new)])[-MAX_ROWS:]

    losses = []
    for _ in range(STEPS_PER_DAY):
        idx = mx.array(rng.integers(0, len(buf_y), BATCH))
        xb, yb, lfb = mx.array(buf_x)[idx], mx.array(buf_y)[idx], mx.array(buf_lf)[idx]
        loss, grads = step_fn(model, xb, yb, lfb)
        if not checked:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"# first step: {len(flat)} gradient leaves, zero: {dead or 'none'}")
            checked = True
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())

    if day == 1 or day % 5 == 0:
        mu = np.exp(np.array(model(mx.array(x_test))))
        test_nll = float(np.mean(mu - y_test * np.log(mu) + log_factorial(y_test)))
        dev_expl = 100 * (1 - deviance(y_test, mu) / null_dev)
        ratio = mu.sum() / y_test.sum()
        kib = (buf_x.nbytes + buf_y.nbytes + buf_lf.nbytes) / 1024
        print(f"| {day:3d} | {len(buf_y):14d} | {kib:10.1f} | {np.mean(losses):9.4f} | "
              f"{test_nll:8.4f} | {dev_expl:17.1f}% | {ratio:14.3f} |")

print(f"# {DAYS} days, {DAYS * STEPS_PER_DAY} steps, {time.time() - t0:.1f}s; "
      f"null deviance {null_dev:.0f}; test NLL of the true rates {oracle_nll:.4f}; mean rescues per tower-hour {y_test.mean():.3f}")
