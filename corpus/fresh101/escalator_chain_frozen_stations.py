"""Escalator step-chain wear model (predictive maintenance).

Each inspection record: which station the escalator is in, plus 6 readings
(months since chain change, daily passengers, share of loaded-uphill
running, lubrication interval, ambient humidity, motor current ripple).
Target: chain elongation in mm (made-up law + heavy-tailed measurement noise).

The station table is NOT learned: it is built from last year's published
station statistics (footfall index, exposure to outdoor air, escalator rise)
and loaded into an nn.Embedding that is frozen on purpose.  Only the MLP
head trains.  The learning rate warms up linearly from exactly 0.
"""

import logging
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("chainwear")

N_STATIONS = 14
N_FEAT = 6
REPLACE_AT_MM = 12.0  # chain is replaced above this elongation


def make_station_table(rng):
    # footfall index, outdoor exposure (0..1), rise in metres (scaled)
    footfall = rng.uniform(0.2, 1.0, N_STATIONS)
    outdoor = rng.integers(0, 2, N_STATIONS).astype(np.float64) * rng.uniform(0.5, 1.0, N_STATIONS)
    rise = rng.uniform(4.0, 30.0, N_STATIONS) / 30.0
    return np.stack([footfall, outdoor, rise], axis=1).astype(np.float32)


def make_records(rng, table, n):
    st = rng.integers(0, N_STATIONS, n)
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    months = 1.5 + np.abs(x[:, 0]) * 2.0
    s = table[st]
    wear = (1.2 * months * (0.6 + s[:, 0]) + 1.8 * s[:, 1] * (1.0 + 0.5 * x[:, 4])
            + 2.5 * s[:, 2] * np.tanh(x[:, 2]) + 0.9 * x[:, 1] - 0.7 * x[:, 3]
            + 0.4 * x[:, 5] ** 2 + 3.0)
    noise = rng.standard_t(df=3, size=n) * 0.6
    y = (wear + noise).astype(np.float32)
    return st.astype(np.int32), x, y


class ChainWearNet(nn.Module):
    def __init__(self, station_table, hidden=48):
        super().__init__()
        self.stations = nn.Embedding(N_STATIONS, station_table.shape[1])
        self.stations.weight = mx.array(station_table)
        self.fc1 = nn.Linear(station_table.shape[1] + N_FEAT, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, st, x):
        h = mx.concatenate([self.stations(st), x], axis=-1)
        h = nn.silu(self.fc1(h))
        h = nn.silu(self.fc2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, st, x, y):
    return nn.losses.huber_loss(model(st, x), y, delta=1.0, reduction="mean")


def validate(model, st, x, y, batch=500):
    abs_err, over_calls, healthy = 0.0, 0, 0
    for i in range(0, len(y), batch):
        pred = model(mx.array(st[i:i + batch]), mx.array(x[i:i + batch]))
        p = np.array(pred)
        t = y[i:i + batch]
        abs_err += float(np.abs(p - t).sum())
        ok = t <= REPLACE_AT_MM
        healthy += int(ok.sum())
        over_calls += int(((p > REPLACE_AT_MM) & ok).sum())
    # over-call %: healthy chains the model would send for replacement (lower is better)
    return abs_err / len(y), 100.0 * over_calls / max(healthy, 1)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    table = make_station_table(rng)
    st_tr, x_tr, y_tr = make_records(rng, table, 6000)
    st_va, x_va, y_va = make_records(rng, table, 2000)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    x_tr = (x_tr - mu) / sd
    x_va = (x_va - mu) / sd

    mx.random.seed(11)
    model = ChainWearNet(table)
    model.stations.freeze()  # published station statistics stay fixed
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("parameters: %d trainable of %d (station table frozen)", n_train, n_all)

    steps, warm, peak = 2400, 150, 1e-3
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)],
        [warm],
    )
    opt = optim.Lion(learning_rate=schedule, weight_decay=0.01)
    grad_fn = nn.value_and_grad(model, loss_fn)

    mae, over = validate(model, st_va, x_va, y_va)
    log.info("before training: val MAE %.3f mm, over-call %.1f%%", mae, over)

    batch, pos = 64, 0
    order = rng.permutation(len(y_tr))
    run = 0.0
    for step in range(1, steps + 1):
        if pos + batch > len(order):
            order = rng.permutation(len(y_tr))
            pos = 0
        idx = order[pos:pos + batch]
        pos += batch
        lr_now = opt.learning_rate.item()
        loss, grads = grad_fn(model, mx.array(st_tr[idx]), mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if step == 1:
            log.info("step    1  lr %.2e  huber(first batch) %.4f", lr_now, loss.item())
        if step % 150 == 0:
            log.info("step %4d  lr %.2e  huber(avg of last 150) %.4f", step, lr_now, run / 150)
            run = 0.0
        if step % 600 == 0:
            mae, over = validate(model, st_va, x_va, y_va)
            log.info("validation @%d: MAE %.3f mm, over-call %.1f%%", step, mae, over)

    mae, over = validate(model, st_va, x_va, y_va)
    log.info("final: val MAE %.3f mm, over-call %.1f%%  (%.1fs)", mae, over, time.time() - t0)


if __name__ == "__main__":
    main()
