"""Chairlift base-station queue: forecast the wait (minutes) 45 minutes ahead.

A small recurrent model reads the last 12 quarter-hours of gate scans, wind,
air temperature, wind-hold flag and clock time.  The recurrent cell uses
zoneout (units keep their previous value with probability p while training,
the expected update is used at evaluation time).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

STEPS_PER_DAY = 30          # 08:30 .. 16:00 in quarter-hours
DAYS = 110
TRAIN_DAYS = 88
WINDOW = 12
HORIZON = 3                 # quarter-hours ahead
HIDDEN = 32
ZONEOUT = 0.15
BATCH = 64
EPOCHS = 16
PEAK_LR = 3e-3
CAPACITY = 620.0            # riders per quarter-hour when the lift turns


def simulate_season():
    rows = []
    for day in range(DAYS):
        powder = np.random.rand() < 0.25
        weekend = (day % 7) in (5, 6)
        base_temp = -8 + 6 * np.sin(day / DAYS * math.pi) + np.random.randn()
        gust_level = np.random.gamma(2.0, 4.0)
        queue = 0.0
        wind_hold_left = 0
        for s in range(STEPS_PER_DAY):
            hour = 8.5 + s * 0.25
            shape = math.exp(-((hour - 10.2) ** 2) / 1.6) + 0.55 * math.exp(-((hour - 13.4) ** 2) / 1.2)
            demand = 520 * shape * (1.5 if powder else 1.0) * (1.35 if weekend else 1.0)
            temp = base_temp + 3 * math.sin((hour - 9) / 7 * math.pi) + 0.4 * np.random.randn()
            demand *= 1.0 - 0.015 * max(0.0, -12 - temp)
            arrivals = np.random.poisson(max(demand, 5.0))
            wind = max(0.0, gust_level + 3 * np.random.randn())
            if wind_hold_left == 0 and wind > 17:
                wind_hold_left = np.random.randint(1, 4)
            hold = 1.0 if wind_hold_left > 0 else 0.0
            wind_hold_left = max(0, wind_hold_left - 1)
            served = CAPACITY * (1.0 - hold) * (0.9 + 0.1 * np.random.rand())
            scans = min(queue + arrivals, served)
            queue = max(0.0, queue + arrivals - served)
            wait = 15.0 * queue / CAPACITY + 0.3 * np.random.randn()
            rows.append([day, s, scans, wind, temp, hold, hour, max(wait, 0.0)])
    return np.array(rows, dtype=np.float64)


def make_windows(rows, days):
    feats, targets, last_wait = [], [], []
    for d in days:
        r = rows[rows[:, 0] == d]
        tod = (r[:, 6] - 8.5) / 7.5
        x = np.stack([
            r[:, 2] / CAPACITY,
            r[:, 3] / 10.0,
            r[:, 4] / 10.0,
            r[:, 5],
            np.sin(tod * math.pi),
            np.cos(tod * math.pi),
            r[:, 7] / 15.0,
        ], axis=1)
        for t in range(WINDOW - 1, STEPS_PER_DAY - HORIZON):
            feats.append(x[t - WINDOW + 1:t + 1])
            targets.append(r[t + HORIZON, 7])
            last_wait.append(r[t, 7])
    return (np.array(feats, np.float32), np.array(targets, np.float32),
            np.array(last_wait, np.float32))


class ZoneoutGRU(nn.Module):
    def __init__(self, in_dim, hidden, p):
        super().__init__()
        self.hidden = hidden
        self.p = p
        self.wx = nn.Linear(in_dim, 3 * hidden)
        self.wh = nn.Linear(hidden, 3 * hidden, bias=False)

    def __call__(self, x):
        B, T, _ = x.shape
        h = mx.zeros((B, self.hidden))
        gx_all = self.wx(x)
        for t in range(T):
            gx = gx_all[:, t]
            gh = self.wh(h)
            H = self.hidden
            r = mx.sigmoid(gx[:, :H] + gh[:, :H])
            z = mx.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
            n = mx.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            h_new = (1 - z) * n + z * h
            if self.training:
                keep = mx.random.bernoulli(self.p, h.shape)
                h = mx.where(keep, h, h_new)
            else:
                h = self.p * h + (1 - self.p) * h_new
        return h


class QueueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = ZoneoutGRU(7, HIDDEN, ZONEOUT)
        self.head = nn.Linear(HIDDEN, 1)

    def __call__(self, x):
        return self.head(self.rnn(x)).squeeze(-1)


def main():
    t0 = time.time()
    rows = simulate_season()
    xtr, ytr, _ = make_windows(rows, range(TRAIN_DAYS))
    xva, yva, lastva = make_windows(rows, range(TRAIN_DAYS, DAYS))
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    persist_mae = float(np.abs(lastva - yva).mean())
    mean_mae = float(np.abs(y_mu - yva).mean())
    print(f"# season simulated: {len(xtr)} train windows, {len(xva)} valid windows, "
          f"mean wait {y_mu:.2f} min, {time.time() - t0:.1f}s")
    print(f"# baselines on valid: persistence MAE {persist_mae:.3f} min, "
          f"train-mean MAE {mean_mae:.3f} min")

    Xtr, Ytr = mx.array(xtr), mx.array((ytr - y_mu) / y_sd)
    Xva = mx.array(xva)

    model = QueueNet()
    mx.eval(model.parameters())
    steps_per_epoch = len(xtr) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = steps_per_epoch
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, warm),
         optim.cosine_decay(PEAK_LR, total - warm, 1e-4)],
        [warm])
    opt = optim.Adam(learning_rate=schedule)

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def valid_mae():
        model.eval()
        pred = model(Xva) * y_sd + y_mu
        mae = mx.mean(mx.abs(mx.maximum(pred, 0.0) - mx.array(yva))).item()
        model.train()
        return mae

    untrained = valid_mae()
    print(f"# untrained valid MAE {untrained:.3f} min; zoneout p={ZONEOUT}; "
          f"{steps_per_epoch} steps/epoch, warm-up {warm} steps from lr 0")
    print("epoch,step,lr,train_huber,valid_mae_min,persistence_mae_min,skill_pct,secs")

    model.train()
    step = 0
    for epoch in range(1, EPOCHS + 1):
        perm = np.random.permutation(len(xtr))
        running, count = 0.0, 0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            lr_now = float(schedule(step))
            loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step == 0:
                print(f"# first update ran at lr {lr_now:.1e}")
            running += loss.item()
            count += 1
            step += 1
        mae = valid_mae()
        skill = 100.0 * (1.0 - mae / persist_mae)
        print(f"{epoch},{step},{lr_now:.2e},{running / count:.4f},{mae:.3f},"
              f"{persist_mae:.3f},{skill:.1f},{time.time() - t0:.1f}")
    print(f"# done: valid MAE {mae:.3f} min vs persistence {persist_mae:.3f} min")


if __name__ == "__main__":
    main()
