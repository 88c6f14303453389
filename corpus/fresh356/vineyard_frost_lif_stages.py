"""Vineyard frost watch: dawn minimum temperature from a night of sensor readings.

Two-layer feed-forward LIF network with direct current injection and a
non-spiking integrator readout. Two stages: a short 6-step night window,
then the full 16-step window with a fresh optimizer.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s frostwatch: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("frostwatch")
rng = np.random.default_rng(3567)
FULL_T, CH = 16, 6


def make_nights(n):
    """Hourly readings 16 x 6: air temp, dew point, wind, cloud, soil temp, humidity."""
    h = np.arange(FULL_T)[None, :]
    t_dusk = rng.normal(9.0, 3.0, size=(n, 1))
    cloud = rng.uniform(0, 1, size=(n, 1))
    wind = rng.gamma(2.0, 1.2, size=(n, 1))
    dew = t_dusk - rng.uniform(1.0, 8.0, size=(n, 1))
    soil = t_dusk + rng.normal(2.0, 1.0, size=(n, 1))
    cool = (0.45 - 0.3 * cloud - 0.04 * np.minimum(wind, 5)) * h
    air = t_dusk - cool + rng.normal(0, 0.3, size=(n, FULL_T))
    x = np.stack([
        air,
        np.minimum(dew + rng.normal(0, 0.2, size=(n, FULL_T)), air),
        wind + rng.normal(0, 0.3, size=(n, FULL_T)),
        cloud + rng.normal(0, 0.05, size=(n, FULL_T)),
        soil - 0.1 * h + rng.normal(0, 0.2, size=(n, FULL_T)),
        100 - 5 * (air - dew) + rng.normal(0, 2, size=(n, FULL_T)),
    ], axis=-1).astype(np.float32)
    t_min = (air[:, -1] - 1.2 * (1 - cloud[:, 0]) + 0.25 * (dew[:, 0] - air[:, -1]).clip(-4, 0)
             + rng.normal(0, 0.6, size=n))   # 0.6 C sensor noise: a floor no model beats
    return x, t_min.astype(np.float32)


xtr, ytr = make_nights(4000)
xva, yva = make_nights(1000)
mu, sd = xtr.reshape(-1, CH).mean(0), xtr.reshape(-1, CH).std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(xtr), mx.array(xva)
Ytr, Yva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)


def spike(v):
    """Heaviside forward; boxcar surrogate (width 1) backward."""
    box = mx.where(mx.abs(v) < 0.5, v, mx.stop_gradient(v))
    return mx.stop_gradient((v >= 0).astype(v.dtype) - box) + box


class LIFRegressor(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.fc1 = nn.Linear(CH, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)
        self.hidden = hidden

    def __call__(self, x):
        B, T = x.shape[0], x.shape[1]
        m1 = mx.zeros((B, self.hidden))
        m2 = mx.zeros((B, self.hidden))
        out = mx.zeros((B, 1))
        n_spk = mx.array(0.0)
        for k in range(T):
            m1 = 0.85 * m1 + self.fc1(x[:, k])
            s1 = spike(m1 - 1.0)
            m1 = m1 * (1.0 - mx.stop_gradient(s1))          # reset to zero
            m2 = 0.85 * m2 + self.fc2(s1)
            s2 = spike(m2 - 1.0)
            m2 = m2 * (1.0 - mx.stop_gradient(s2))
            out = 0.9 * out + self.head(s2)                # leaky integrator, no spikes
            n_spk = n_spk + mx.mean(s1) + mx.mean(s2)
        return out[:, 0] / 4.0, n_spk / (2 * T)


def loss_fn(model, x, y):
    pred, rate = model(x)
    return mx.mean((pred - y) ** 2), rate


def rmse_c(model, X, y_c, T):
    pred, rate = model(X[:, -T:])
    p = np.array(pred) * ys + ym
    return float(np.sqrt(np.mean((p - y_c) ** 2))), float(np.mean(np.abs(p - y_c) <= 1.0)), rate.item()


# references: climatology and a least-squares fit on the last-hour readings
clim = float(np.sqrt(np.mean((yva - ym) ** 2)))
A = np.c_[xtr[:, -1], np.ones(len(xtr))]
w, *_ = np.linalg.lstsq(A, ytr, rcond=None)
lin = float(np.sqrt(np.mean((np.c_[xva[:, -1], np.ones(len(xva))] @ w - yva) ** 2)))
log.info("nights train=%d val=%d channels=%d; dawn min mean %.2f C sd %.2f C", len(ytr), len(yva), CH, ym, ys)
log.info("reference RMSE: climatology %.3f C, last-hour linear %.3f C, sensor noise floor ~0.60 C", clim, lin)

model = LIFRegressor()
mx.eval(model.parameters())
BATCH = 100
stages = [("dusk_window", 6, 260), ("full_night", FULL_T, 340)]
t_start = time.time()
for name, T, steps in stages:
    opt = optim.SGD(learning_rate=optim.cosine_decay(0.08, steps, 0.004), momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    r, hit, rate = rmse_c(model, Xva, yva, T)
    log.info("stage %s: T=%d steps=%d, start val RMSE %.3f C", name, T, steps, r)
    window = []
    for step in range(steps):
        idx = mx.array(rng.integers(0, len(ytr), size=BATCH))
        (loss, rate), grads = vg(model, Xtr[idx][:, -T:], Ytr[idx])
        if step == 0:
            flat = tree_flatten(grads)
            dead = sum(float(mx.abs(g).max()) == 0.0 for _, g in flat)
            gn = float(mx.sqrt(sum(mx.sum(g * g) for _, g in flat)))
            log.info("grad audit: %d arrays, %d all-zero, global norm %.4f", len(flat), dead, gn)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in (0, steps // 2, steps - 1):     # quiet in between
            r, hit, vrate = rmse_c(model, Xva, yva, T)
            log.info("%s step %d/%d lr %.4f train_mse_z %.4f | val RMSE %.3f C (clim %.3f, linear %.3f) "
                     "within 1C %.1f%% | spike rate %.3f | %.1fs",
                     name, step, steps, float(opt.learning_rate), float(np.mean(window[-25:])),
                     r, clim, lin, 100 * hit, vrate, time.time() - t_start)

r, hit, vrate = rmse_c(model, Xva, yva, FULL_T)
log.info("done: val RMSE %.3f C vs climatology %.3f C and linear %.3f C; %.1f%% of dawns within 1 C",
         r, clim, lin, 100 * hit)
