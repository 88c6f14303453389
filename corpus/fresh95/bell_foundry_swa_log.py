"""Bell foundry: predict how far a freshly cast bell's hum, prime and tierce
partials land from their targets (in cents) from six casting parameters, so the
tuner knows how much metal to turn off.  Trained with AdamW under a linear
warm-up that starts at exactly 0, then a constant phase during which a
stochastic weight average (SWA) of the weights is kept by hand.  The final
model is the averaged one.  Reports go through the logging module.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("foundry")


def cast_bells(n, rng):
    # diameter (m), lip thickness ratio, bronze tin %, mould temp (C),
    # pour time (s), crown shape index
    d = rng.uniform(0.4, 1.6, n)
    lip = rng.uniform(0.065, 0.085, n)
    tin = rng.uniform(20.0, 24.0, n)
    mould = rng.uniform(900.0, 1150.0, n)
    pour = rng.uniform(8.0, 40.0, n)
    crown = rng.uniform(-1.0, 1.0, n)
    x = np.stack([d, lip, tin, mould, pour, crown], 1)
    hum = 900 * (lip - 0.075) + 6 * (tin - 22) - 0.03 * (mould - 1020) + 9 * crown
    prime = 500 * (lip - 0.075) + 4 * np.sin(3 * d) - 0.12 * (pour - 24) + 3 * crown ** 2
    tierce = -300 * (lip - 0.075) + 5 * (tin - 22) * d - 6 * crown
    y = np.stack([hum, prime, tierce], 1)
    y = y + rng.normal(0, 2.5, y.shape)  # tuning-fork reading noise, cents
    return x.astype(np.float32), y.astype(np.float32)


class PartialNet(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Linear(hidden, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def evaluate(model, x, y, y_scale):
    pred = model(x)
    err = mx.abs(pred - y) * y_scale  # back to cents
    mae = err.mean(axis=0)
    within = (err.max(axis=1) <= 5.0).astype(mx.float32).mean()
    mx.eval(mae, within)
    return [float(v) for v in mae.tolist()], 100.0 * within.item()


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    xtr, ytr = cast_bells(24000, rng)
    xva, yva = cast_bells(1500, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    y_scale = ytr.std(0)
    Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
    Ytr, Yva = mx.array(ytr / y_scale), mx.array(yva / y_scale)
    ys = mx.array(y_scale)
    log.info("cast %d training bells, %d held out; partial spread (cents) %s",
             len(xtr), len(xva), [round(float(v), 1) for v in y_scale])

    mx.random.seed(3)
    model = PartialNet()
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

    batch, warm_steps = 100, 600
    steps_per_epoch = len(xtr) // batch
    epochs, swa_start_epoch = 14, 8
    lr_sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm_steps), lambda _: mx.array(2e-3)],
        [warm_steps])
    opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, huber)

    # gradient check on one batch before training
    _, g0 = loss_and_grad(model, Xtr[:batch], Ytr[:batch])
    flat = tree_flatten(g0)
    nz = sum(1 for _, g in flat if mx.abs(g).max().item() > 0)
    log.info("model has %d weights in %d leaves; %d leaves get a gradient at step 0",
             n_params, len(flat), nz)

    mae, within = evaluate(model, Xva, Yva, ys)
    log.info("epoch  0 | untrained        | val MAE hum/prime/tierce %.2f/%.2f/%.2f c | in-tune %.1f%%",
             *mae, within)

    swa, swa_n = None, 0
    step = 0
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(xtr)))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        if epoch >= swa_start_epoch:
            p = model.parameters()
            if swa is None:
                swa = tree_map(lambda a: a, p)
                swa_n = 1
            else:
                swa_n += 1
                swa = tree_map(lambda s, a: s + (a - s) / swa_n, swa, p)
            mx.eval(swa)
        mae, within = evaluate(model, Xva, Yva, ys)
        tag = "swa n=%d" % swa_n if swa is not None else "lr %.1e" % opt.learning_rate.item()
        log.info("epoch %2d | train huber %.4f | val MAE hum/prime/tierce %.2f/%.2f/%.2f c | in-tune %.1f%% | %s",
                 epoch, run / steps_per_epoch, *mae, within, tag)

    last_mae, last_within = evaluate(model, Xva, Yva, ys)
    model.update(swa)
    swa_mae, swa_within = evaluate(model, Xva, Yva, ys)
    log.info("last iterate : in-tune %.1f%%, mean MAE %.2f c", last_within, sum(last_mae) / 3)
    log.info("SWA of %d    : in-tune %.1f%%, mean MAE %.2f c", swa_n, swa_within, sum(swa_mae) / 3)
    log.info("done in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
