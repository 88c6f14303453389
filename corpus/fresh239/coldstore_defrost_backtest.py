"""Cold-store room temperature: 12-step-ahead forecasting with a rolling-origin backtest.

Synthetic 10-minute readings of a refrigerated warehouse room (setpoint -20 C,
compressor cycling, a defrost heater every 6 h, door openings in working hours).
Model: RevIN instance normalisation (learnable affine) + DLinear (moving-average
trend / remainder split, one Linear map each) with a Gaussian head (mean and
log-variance).  Trained on expanding windows: fold k trains on everything before
its origin and is scored on the next block, re-initialised every fold.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

LOOKBACK = 72   # 12 h of 10-min readings
HORIZON = 12    # next 2 h
DAY = 144
SEED = 3

np.random.seed(SEED)
mx.random.seed(SEED)


def simulate(days, rng):
    n = days * DAY
    t = np.arange(n)
    temp = np.empty(n, dtype=np.float64)
    x = -20.0
    for i in range(n):
        hour = (t[i] % DAY) / 6.0
        weekday = (t[i] // DAY) % 7 < 5
        load = 0.0
        if weekday and 7 <= hour < 18 and rng.random() < 0.12:
            load += rng.uniform(0.6, 1.6)          # door opening
        if t[i] % 36 in (0, 1, 2):
            load += 1.4                              # defrost heater
        compressor = 0.18 * (x + 20.5)
        x = x + load * 0.5 - compressor + rng.normal(0, 0.05)
        temp[i] = x
    return temp.astype(np.float32)


def make_windows(series, start, stop):
    xs, ys = [], []
    for s in range(start, stop - LOOKBACK - HORIZON, 3):
        xs.append(series[s:s + LOOKBACK])
        ys.append(series[s + LOOKBACK:s + LOOKBACK + HORIZON])
    return np.stack(xs), np.stack(ys)


class RevIN(nn.Module):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.gamma = mx.ones((1,))
        self.beta = mx.zeros((1,))
        self.eps = eps

    def norm(self, x):
        mu = mx.stop_gradient(x.mean(axis=1, keepdims=True))
        sd = mx.stop_gradient(mx.sqrt(x.var(axis=1, keepdims=True) + self.eps))
        return (x - mu) / sd * self.gamma + self.beta, mu, sd

    def denorm(self, y, mu, sd):
        return (y - self.beta) / (self.gamma + self.eps) * sd + mu


class DLinearGauss(nn.Module):
    def __init__(self, lookback, horizon, kernel=13):
        super().__init__()
        self.kernel = kernel
        self.revin = RevIN()
        self.trend = nn.Linear(lookback, horizon)
        self.season = nn.Linear(lookback, horizon)
        self.logvar = nn.Linear(lookback, horizon)

    def moving_average(self, x):
        k = self.kernel
        pad_l = mx.repeat(x[:, :1], k // 2, axis=1)
        pad_r = mx.repeat(x[:, -1:], k // 2, axis=1)
        xp = mx.concatenate([pad_l, x, pad_r], axis=1)
        c = mx.cumsum(xp, axis=1)
        c = mx.concatenate([mx.zeros((x.shape[0], 1)), c], axis=1)
        return (c[:, k:] - c[:, :-k]) / k

    def __call__(self, x):
        z, mu, sd = self.revin.norm(x)
        tr = self.moving_average(z)
        rem = z - tr
        mean_z = self.trend(tr) + self.season(rem)
        logvar_z = mx.clip(self.logvar(rem), -8.0, 4.0)
        mean = self.revin.denorm(mean_z, mu, sd)
        scale = sd / (self.revin.gamma + 1e-5)
        logvar = logvar_z + 2.0 * mx.log(scale)
        return mean, logvar


def gauss_nll(model, x, y):
    mean, logvar = model(x)
    return (0.5 * (logvar + (y - mean) ** 2 * mx.exp(-logvar))).mean()


def run_fold(fold, series, origin, test_len, steps=300, batch=64):
    x_tr, y_tr = make_windows(series, 0, origin)
    x_te, y_te = make_windows(series, origin - LOOKBACK, origin + test_len)
    model = DLinearGauss(LOOKBACK, HORIZON)
    mx.eval(model.parameters())
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 5e-3, warm), optim.cosine_decay(5e-3, steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, gauss_nll)
    rng = np.random.default_rng(SEED + fold)
    print(f"fold {fold}: origin day {origin // DAY}, {len(x_tr)} train windows, {len(x_te)} test windows")
    for step in range(steps):
        idx = rng.integers(0, len(x_tr), size=batch)
        loss, grads = step_fn(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 75 == 0 or step == steps - 1:
            print(f"  fold {fold} step {step:3d}  lr {opt.learning_rate.item():.2e}  nll {loss.item():+.3f}")
    mean, logvar = model(mx.array(x_te))
    mean = np.array(mean)
    sd = np.exp(0.5 * np.array(logvar))
    mae = float(np.abs(mean - y_te).mean())
    last_value = float(np.abs(x_te[:, -1:] - y_te).mean())
    season = x_te[:, LOOKBACK - 36:LOOKBACK - 36 + HORIZON]   # one defrost period earlier
    seasonal = float(np.abs(season - y_te).mean())
    cover = float((np.abs(mean - y_te) <= 1.645 * sd).mean())
    print(f"  fold {fold} test: MAE {mae:.3f} C | last-value {last_value:.3f} C | "
          f"seasonal-naive {seasonal:.3f} C | 90% band coverage {cover:.2f}")
    return mae, last_value, seasonal, cover


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    series = simulate(40, rng)
    print(f"simulated {len(series)} readings, mean {series.mean():.2f} C, min {series.min():.2f}, max {series.max():.2f}")
    origins = [24 * DAY, 30 * DAY, 35 * DAY]
    rows = []
    for k, origin in enumerate(origins):
        rows.append(run_fold(k, series, origin, 5 * DAY))
    rows = np.array(rows)
    print("backtest summary (mean over folds):")
    print(f"  model MAE {rows[:, 0].mean():.3f} C, last-value {rows[:, 1].mean():.3f} C, "
          f"seasonal-naive {rows[:, 2].mean():.3f} C, coverage {rows[:, 3].mean():.2f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
