"""Multi-storey car park: forecast occupancy (% of bays) a few half-hours ahead.

A small GRU reads the last 16 half-hourly occupancy readings plus the time of
day and predicts the 10th / 50th / 90th percentile of occupancy at a horizon.
Curriculum over the horizon: 30 min -> 2 h -> 4 h.  The farther horizons are
harder, so the pinball loss jumps up when a new stage starts.
"""
import math
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

WINDOW = 16
QUANTS = mx.array([0.1, 0.5, 0.9])
STAGES = [(1, 120), (4, 160), (8, 200)]   # (horizon in half-hours, steps)
BATCH = 64


def day_profile(kind, t):
    """Mean occupancy (0..100) at half-hour slot t (0..47) for a kind of day."""
    h = t / 2.0
    if kind == 0:    # weekday: commuters fill by 9, leave by 18
        base = 8 + 80 / (1 + math.exp(-(h - 8.0) * 1.6)) - 78 / (1 + math.exp(-(h - 17.5) * 1.4))
    elif kind == 1:  # saturday: shoppers, broad peak around 14h
        base = 6 + 70 * math.exp(-((h - 14.0) / 3.2) ** 2)
    else:            # event night
        base = 10 + 40 * math.exp(-((h - 12.0) / 4.0) ** 2) + 50 / (1 + math.exp(-(h - 18.5) * 2.0))
    return base


def make_days(n_days):
    days = []
    for _ in range(n_days):
        kind = random.choices([0, 1, 2], weights=[5, 2, 1])[0]
        scale = random.uniform(0.8, 1.1)
        drift = 0.0
        row = []
        for t in range(48):
            drift = 0.8 * drift + random.gauss(0, 2.0)
            row.append(min(100.0, max(0.0, scale * day_profile(kind, t) + drift)))
        days.append(row)
    return days


def make_windows(days, horizon):
    xs, ys, last = [], [], []
    for row in days:
        for start in range(0, 48 - WINDOW - horizon + 1):
            seq = []
            for k in range(WINDOW):
                t = start + k
                ang = 2 * math.pi * t / 48
                seq.append([row[t] / 100.0, math.sin(ang), math.cos(ang)])
            xs.append(seq)
            ys.append(row[start + WINDOW - 1 + horizon])
            last.append(row[start + WINDOW - 1])
    return mx.array(xs), mx.array(ys), mx.array(last)


class FillForecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(3, hidden)
        self.head = nn.Linear(hidden, 3)

    def __call__(self, x):
        h = self.gru(x)[:, -1, :]
        q = self.head(h) * 25.0 + 50.0      # percent-ish scale
        # keep quantiles ordered: q10 <= q50 <= q90
        lo = q[:, 1:2] - nn.softplus(q[:, 0:1])
        hi = q[:, 1:2] + nn.softplus(q[:, 2:3])
        return mx.concatenate([lo, q[:, 1:2], hi], axis=1)


def pinball(pred, y):
    diff = y[:, None] - pred
    return mx.mean(mx.maximum(QUANTS * diff, (QUANTS - 1.0) * diff))


def loss_fn(model, x, y):
    return pinball(model(x), y)


train_days = make_days(60)
val_days = make_days(12)

model = FillForecaster()
mx.eval(model.parameters())

warm = optim.linear_schedule(0.0, 4e-3, 40)           # starts at exactly 0
decay = optim.cosine_decay(4e-3, sum(s for _, s in STAGES), 4e-4)
opt = optim.RMSprop(learning_rate=optim.join_schedules([warm, decay], [40]))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


print("| stage | horizon | step | lr | pinball | MAE model (%) | MAE persistence (%) | 80% band cover |")
print("|---|---|---|---|---|---|---|---|")
t0 = time.time()
for stage_idx, (horizon, n_steps) in enumerate(STAGES, start=1):
    xtr, ytr, _ = make_windows(train_days, horizon)
    xva, yva, lastva = make_windows(val_days, horizon)
    n = xtr.shape[0]
    for step in range(1, n_steps + 1):
        idx = mx.array(random.sample(range(n), BATCH))
        loss = train_step(xtr[idx], ytr[idx])
        mx.eval(loss, model.state, opt.state)
        if step == 1 or step % 40 == 0:
            pred = model(xva)
            mae = mx.mean(mx.abs(pred[:, 1] - yva)).item()
            base = mx.mean(mx.abs(lastva - yva)).item()
            cover = mx.mean((yva >= pred[:, 0]) & (yva <= pred[:, 2])).item() * 100
            lr = opt.learning_rate.item()
            print(f"| {stage_idx} | {horizon * 30} min | {step} | {lr:.2e} | {loss.item():.3f} "
                  f"| {mae:.2f} | {base:.2f} | {cover:.0f}% |")

print(f"\nfinished {sum(s for _, s in STAGES)} updates in {time.time() - t0:.1f}s")
