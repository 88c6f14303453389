"""Glacier-fed river: forecast daily meltwater discharge from weather sequences.

A small GRU reads 40-day windows of (air temperature, shortwave radiation,
precipitation, observed discharge) and forecasts the discharge `lead` days
after each day of the window.  The lead time is taught as a curriculum:
1 day, then 2, then 4, then 7 days ahead, so the training loss steps UP each
time the task gets harder and then falls again.  Validation is always scored
at the final 7-day lead with the Nash-Sutcliffe efficiency (NSE: 1 is a
perfect forecast, 0 is no better than the mean flow, higher is better).
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s meltwater :: %(message)s")
log = logging.getLogger("meltwater")


def simulate(n_days, seed):
    """Degree-day melt feeding a linear reservoir, plus rain runoff."""
    rng = np.random.default_rng(seed)
    day = np.arange(n_days)
    season = np.sin(2 * np.pi * (day - 100) / 365.25)
    temp = 2.0 + 9.0 * season + np.cumsum(rng.normal(0, 0.6, n_days)) * 0.15
    temp = temp + rng.normal(0, 2.0, n_days)
    rad = np.clip(180 + 120 * season + rng.normal(0, 45, n_days), 10, None)
    rain = rng.gamma(0.4, 6.0, n_days) * (rng.random(n_days) < 0.35)
    q = np.zeros(n_days)
    store = 5.0
    for t in range(n_days):
        melt = 0.45 * max(temp[t], 0.0) + 0.012 * rad[t] * (temp[t] > -1.0)
        store = 0.88 * store + melt + 0.6 * rain[t]
        q[t] = 0.12 * store + 0.25 * rain[t]
    q = q * (1.0 + rng.normal(0, 0.04, n_days))
    return np.stack([temp, rad, rain, q], axis=1).astype(np.float32)


class Forecaster(nn.Module):
    def __init__(self, n_in=4, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(n_in, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.head(self.rnn(x))[..., 0]


def windows(series, starts, length, lead):
    idx = starts[:, None] + np.arange(length)[None, :]
    x = series[idx]
    y = series[idx + lead, 3]
    return x, y


def main():
    t0 = time.time()
    train_raw = simulate(12 * 365, seed=11)
    valid_raw = simulate(3 * 365, seed=12)
    mu, sd = train_raw.mean(0), train_raw.std(0)
    train = (train_raw - mu) / sd
    valid = (valid_raw - mu) / sd
    q_sd = float(sd[3])
    log.info("data: train %d days, valid %d days, mean flow %.2f m3/s (sd %.2f)",
             len(train), len(valid), float(mu[3]), q_sd)

    L, FINAL_LEAD = 40, 7
    rng = np.random.default_rng(0)
    v_starts = np.arange(0, len(valid) - L - FINAL_LEAD, 5)
    vx, vy = windows(valid, v_starts, L, FINAL_LEAD)
    vx, vy = mx.array(vx), mx.array(vy)
    warm = 10  # the first days of a window only spin up the GRU state

    mx.random.seed(0)
    model = Forecaster()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

    def loss_fn(m, x, y):
        pred = m(x)
        return nn.losses.mse_loss(pred[:, warm:], y[:, warm:])

    step_fn = nn.value_and_grad(model, loss_fn)

    def nse(m):
        pred = m(vx)[:, warm:]
        obs = vy[:, warm:]
        sse = mx.sum((pred - obs) ** 2)
        sst = mx.sum((obs - mx.mean(obs)) ** 2)
        return (1.0 - sse / sst).item(), math.sqrt(mx.mean((pred - obs) ** 2).item()) * q_sd

    v0, r0 = nse(model)
    log.info("untrained: valid NSE@%dd %.3f  rmse %.2f m3/s", FINAL_LEAD, v0, r0)

    curriculum = [1, 2, 4, 7]
    steps_per_stage, batch = 140, 32
    step = 0
    for lead in curriculum:
        hi = len(train) - L - lead
        run = []
        for k in range(1, steps_per_stage + 1):
            starts = rng.integers(0, hi, size=batch)
            x, y = windows(train, starts, L, lead)
            loss, grads = step_fn(model, mx.array(x), mx.array(y))
            if step == 0:
                flat = tree_flatten(grads)
                zero = [p for p, g in flat if mx.abs(g).max().item() == 0.0]
                log.info("grad check: %d leaves, zero-gradient leaves: %s", len(flat), zero or "none")
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
            step += 1
            if k in (1, 20) or k % 70 == 0:
                v, r = nse(model)
                log.info("lead %dd  step %4d  train_mse(std,lead %dd) %.4f  valid NSE@7d %.3f  "
                         "rmse %.2f m3/s  |g| %.2f  %.1fs",
                         lead, step, lead, float(np.mean(run[-20:])), v, r, gnorm.item(),
                         time.time() - t0)
    v, r = nse(model)
    log.info("done: %d steps, valid NSE@7d %.3f (untrained %.3f), rmse %.2f m3/s, %.1fs",
             step, v, v0, r, time.time() - t0)


if __name__ == "__main__":
    main()
