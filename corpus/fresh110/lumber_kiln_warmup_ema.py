"""Lumber dry-kiln schedule length (hours) from sawmill kiln logs.

Synthetic log: board thickness, green moisture %, target moisture %,
dry-bulb temperature, species density, conditioning-step flag. Small MLP, compiled step with explicit state,
linear warm-up from lr=0 then cosine decay, loss reported as a bias-corrected EMA.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kiln")


def make_logs(n, rng):
    thick = rng.uniform(20.0, 60.0, n)         # mm
    green = rng.uniform(40.0, 110.0, n)        # % moisture at loading
    target = rng.uniform(6.0, 12.0, n)         # % moisture wanted
    temp = rng.uniform(50.0, 85.0, n)          # dry bulb, C
    density = rng.uniform(0.4, 0.8, n)         # g/cm3
    condition = (rng.uniform(size=n) < 0.3).astype(np.float64)
    hours = (0.02 * thick ** 1.5 * np.log(green / target) * (1 + 1.5 * (density - 0.4))
             * np.exp(-(temp - 65.0) / 40.0) + 8.0 * condition)
    hours = hours + rng.normal(0, 1.5, n)
    X = np.stack([thick / 10, green / 20, target, temp / 10, density * 10, condition], axis=1)
    return X.astype(np.float32), hours.astype(np.float32)


class KilnHoursNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


class Config:
    steps = 3000
    warmup = 300
    batch = 64
    peak_lr = 3e-3
    report_every = 300
    ema_beta = 0.98


def main():
    cfg = Config()
    rng = np.random.default_rng(11)
    Xtr, ytr = make_logs(6000, rng)
    Xva, yva = make_logs(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    ymu, ysd = ytr.mean(), ytr.std()
    Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
    ytr_n = (ytr - ymu) / ysd

    mx.random.seed(3)
    model = KilnHoursNet(Xtr.shape[1])
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, cfg.peak_lr, cfg.warmup),
         optim.cosine_decay(cfg.peak_lr, cfg.steps - cfg.warmup, 1e-5)],
        [cfg.warmup])
    opt = optim.Adam(learning_rate=schedule)

    def loss_fn(m, x, y):
        return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")

    # sanity check: every leaf gets a gradient on the first batch
    _, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr_n[:64]), mx.array(ytr_n[:64]))
    from mlx.utils import tree_flatten
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    assert not dead, dead

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    def val_mae_minutes():
        pred = model(mx.array(Xva_n)) * ysd + ymu
        return float(mx.mean(mx.abs(pred - mx.array(yva))))

    log.info("train=%d val=%d baseline MAE(predict mean)=%.3f h",
             len(ytr), len(yva), float(np.mean(np.abs(yva - ymu))))
    ema, n_ema = 0.0, 0
    perm = rng.permutation(len(ytr))
    cursor = 0
    t0 = time.perf_counter()
    for it in range(1, cfg.steps + 1):
        if cursor + cfg.batch > len(perm):
            perm = rng.permutation(len(ytr))
            cursor = 0
        idx = perm[cursor:cursor + cfg.batch]
        cursor += cfg.batch
        lr_now = float(schedule(opt.step)) if hasattr(opt, "step") else float("nan")
        loss = step(mx.array(Xtr_n[idx]), mx.array(ytr_n[idx]))
        mx.eval(state, loss)
        ema = cfg.ema_beta * ema + (1 - cfg.ema_beta) * loss.item()
        n_ema += 1
        if it % cfg.report_every == 0:
            corrected = ema / (1 - cfg.ema_beta ** n_ema)
            log.info("step %4d lr %.2e huber(ema, corrected) %.4f val MAE %.3f h",
                     it, lr_now, corrected, val_mae_minutes())
    log.info("done in %.1fs, final val MAE %.3f h", time.perf_counter() - t0, val_mae_minutes())


if __name__ == "__main__":
    main()
