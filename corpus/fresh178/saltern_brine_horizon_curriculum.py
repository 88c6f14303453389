"""Saltern logbook: forecast the next days of brine level change (cm) in a crystallising pan from a 28-day window.

Horizon curriculum: stage 1 learns 1 day ahead, stage 2 three days, stage 3 seven days.
The last stage uses early stopping on held-out pans and restores the best weights.
"""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s saltern: %(message)s")
log = logging.getLogger("saltern")

rng = np.random.default_rng(3)
mx.random.seed(3)
W, HMAX = 28, 7


def saltworks(n_pans, days=300):
    t = np.arange(days)
    series = []
    for _ in range(n_pans):
        fill_peak = rng.uniform(110, 170)
        fill = 1.6 * np.exp(-((t - fill_peak) / rng.uniform(15, 30)) ** 2)
        evaporation = 0.25 + 0.1 * np.sin(2 * np.pi * t / 365.0)
        windy = (rng.random(days) < 0.2) * rng.uniform(0.2, 0.8, days)
        sluice = 0.15 * np.sin(2 * np.pi * t / 7.0 + rng.uniform(0, 6.28))
        delta = fill * (1 - windy) - evaporation + sluice + 0.08 * rng.normal(size=days)
        series.append(delta.astype(np.float32))
    return series


def windows(series):
    xs, ys = [], []
    for s in series:
        for i in range(0, len(s) - W - HMAX, 2):
            xs.append(s[i:i + W]); ys.append(s[i + W:i + W + HMAX])
    return mx.array(np.stack(xs)), mx.array(np.stack(ys))


Xtr, Ytr = windows(saltworks(12))
Xva, Yva = windows(saltworks(3))
log.info("windows train=%d val=%d", Xtr.shape[0], Xva.shape[0])


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(W, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, HMAX)

    def __call__(self, x):
        return self.head(self.body(x))


model = Forecaster()
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)


def horizon_mae(model, x, y, h):
    return mx.abs(model(x)[:, :h] - y[:, :h]).mean()


state = [model.state, opt.state]


def make_step(h):
    def step(x, y):
        loss, g = nn.value_and_grad(model, lambda m, a, b: horizon_mae(m, a, b, h))(model, x, y)
        opt.update(model, g)
        return loss
    return mx.compile(step, inputs=state, outputs=state)


def persistence_mae(y, x, h):
    # naive reference: tomorrow's level change equals today's
    return float(mx.abs(y[:, :h] - x[:, -1:]).mean())


B = 64
n = Xtr.shape[0]
for stage, (h, epochs) in enumerate([(1, 6), (3, 6), (7, 30)], start=1):
    step = make_step(h)
    best, best_params, bad = float("inf"), None, 0
    log.info("stage %d: horizon=%d days, persistence val MAE=%.3f cm", stage, h, persistence_mae(Yva, Xva, h))
    for ep in range(epochs):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n - B + 1, B):
            idx = perm[i:i + B]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(state, loss)
            tot += float(loss)
        va = float(horizon_mae(model, Xva, Yva, h))
        log.info("stage %d epoch %02d train_mae=%.4f val_mae=%.4f cm", stage, ep, tot / (n // B), va)
        if stage == 3:
            if va < best - 1e-4:
                best, bad = va, 0
                best_params = tree_map(lambda p: mx.array(p), model.parameters())
            else:
                bad += 1
                if bad >= 4:
                    log.info("early stop at epoch %d (best val_mae=%.4f)", ep, best)
                    break
    if stage == 3 and best_params is not None:
        model.update(best_params)
        mx.eval(model.parameters())
        log.info("restored best weights: val_mae=%.4f", float(horizon_mae(model, Xva, Yva, h)))

per_day = mx.abs(model(Xva) - Yva).mean(axis=0)
log.info("per-day val MAE (cm): %s", " ".join(f"{v:.3f}" for v in per_day.tolist()))
log.info("persistence per-day: %s", " ".join(f"{v:.3f}" for v in mx.abs(Yva - Xva[:, -1:]).mean(axis=0).tolist()))
