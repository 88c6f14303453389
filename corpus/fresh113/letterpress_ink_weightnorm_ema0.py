"""Letterpress shop: how much ink film (micrometres) a forme needs for solid coverage.

Six readings from the job ticket: paper absorbency (Cobb g/m2), press speed (impressions
per hour), roller durometer (Shore A), pressroom temperature (C), relative humidity (%)
and the share of the forme that is solid (0-1). The law below is made up.

Layers are weight-normalised by hand (w = g * v / ||v||), trained with Nesterov SGD.
The printed running loss is a plain exponential moving average that starts at 0 (no bias
correction), so it climbs during the first reports before it comes down.
"""
import logging
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class ShortFormatter(logging.Formatter):
    def format(self, record):
        return f"{record.levelname[0]}| {record.getMessage()}"


log = logging.getLogger("inkfilm")
_h = logging.StreamHandler(sys.stdout)
_h.setFormatter(ShortFormatter())
log.addHandler(_h)
log.setLevel(logging.INFO)


def make_tickets(n, rng):
    cobb = rng.uniform(18, 60, n)
    speed = rng.uniform(600, 2400, n)
    duro = rng.uniform(20, 40, n)
    temp = rng.uniform(14, 30, n)
    rh = rng.uniform(30, 75, n)
    solid = rng.beta(2, 3, n)
    film = (0.9 + 0.022 * cobb + 0.55 * solid ** 1.4 + 0.00012 * speed
            - 0.012 * (temp - 20) + 0.006 * np.maximum(rh - 55, 0) ** 1.5 / 10
            + 0.15 * np.sin(duro / 6.0))
    film *= np.exp(rng.normal(0, 0.04, n))
    X = np.stack([cobb, speed, duro, temp, rh, solid], 1).astype(np.float32)
    return X, film.astype(np.float32)


class WNLinear(nn.Module):
    """Linear layer with weight normalisation: direction v, length g per output row."""

    def __init__(self, d_in, d_out):
        super().__init__()
        s = 1.0 / math.sqrt(d_in)
        self.v = mx.random.uniform(-s, s, (d_out, d_in))
        self.g = mx.ones((d_out,))
        self.b = mx.zeros((d_out,))

    def __call__(self, x):
        norm = mx.sqrt((self.v * self.v).sum(axis=1, keepdims=True) + 1e-8)
        w = self.g[:, None] * self.v / norm
        return x @ w.T + self.b


class InkNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = WNLinear(d_in, width)
        self.l2 = WNLinear(width, width)
        self.out = WNLinear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


class Config:
    epochs = 14
    batch = 64
    lr = 0.004
    momentum = 0.9
    ema_decay = 0.95
    early_reports = (2, 5, 10, 20, 40, 80, 120)


def main():
    cfg = Config()
    rng = np.random.default_rng(41)
    mx.random.seed(41)
    Xtr, ytr = make_tickets(9000, rng)
    Xva, yva = make_tickets(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr_s = mx.array((Xtr - mu) / sd)
    Xva_s = mx.array((Xva - mu) / sd)
    ytr_s = mx.array((ytr - ymu) / ysd)
    yva_np = yva

    model = InkNet(6)
    opt = optim.SGD(learning_rate=cfg.lr, momentum=cfg.momentum, nesterov=True)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    step_fn = nn.value_and_grad(model, loss_fn)

    def validate():
        pred = np.array(model(Xva_s)) * ysd + ymu
        mape = float(np.mean(np.abs(pred - yva_np) / yva_np)) * 100
        rmse = float(np.sqrt(np.mean((pred - yva_np) ** 2)))
        return rmse, mape

    base = float(np.mean(np.abs(ymu - yva_np) / yva_np)) * 100
    log.info(f"tickets train={len(ytr)} valid={len(yva)}  film mean {ymu:.3f} um, sd {ysd:.3f} um")
    log.info(f"predict-the-mean baseline: valid MAPE {base:.2f}%")

    # first-step gradient audit
    _, g0 = step_fn(model, Xtr_s[:cfg.batch], ytr_s[:cfg.batch])
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.info(f"gradient leaves {len(flat)}, all-zero: {dead if dead else 'none'}")

    ema = 0.0
    step = 0
    n = Xtr_s.shape[0]
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        perm = mx.array(rng.permutation(n))
        for i in range(0, n - cfg.batch + 1, cfg.batch):
            idx = perm[i:i + cfg.batch]
            loss, grads = step_fn(model, Xtr_s[idx], ytr_s[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            ema = cfg.ema_decay * ema + (1 - cfg.ema_decay) * loss.item()
            if step in cfg.early_reports:
                log.info(f"step {step:5d}  ema_mse(std units) {ema:.4f}")
        rmse, mape = validate()
        log.info(f"epoch {epoch:2d} step {step:5d}  ema_mse(std units) {ema:.4f}  "
                 f"valid rmse {rmse:.3f} um  valid MAPE {mape:.2f}%  "
                 f"t={time.perf_counter() - t0:.1f}s")
    g_out = np.array(model.out.g)
    log.info(f"done: output gain |g|={abs(g_out[0]):.3f}, valid MAPE {mape:.2f}% vs baseline {base:.2f}%")


if __name__ == "__main__":
    main()
