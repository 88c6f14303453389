"""Shearing-shed wool lots: predict the clean price (c/kg) a sale lot will fetch
from the test records of the fleeces baled into it.

Each lot holds 3-12 fleeces.  Fleece records of a minibatch are concatenated
and pooled per lot with indexed updates (sum, count and max per lot).
Output is a stream of SQL statements that can be piped into sqlite3.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(321)
N_FEAT = 6


def make_lots(n_lots):
    sizes = rng.integers(3, 13, size=n_lots)
    rows, owner = [], []
    price = np.zeros(n_lots, dtype=np.float32)
    for i, m in enumerate(sizes):
        micron = rng.normal(19.5, 1.6, m)
        staple = rng.normal(85, 12, m)            # mm
        strength = rng.normal(36, 6, m)           # N/ktex
        vm = np.abs(rng.normal(1.2, 0.9, m))      # vegetable matter %
        yld = rng.normal(68, 5, m)                # clean yield %
        weight = rng.normal(4.5, 0.8, m).clip(2.5, 7.0)  # kg greasy
        per_fleece = (2400 - 95 * (micron - 19.5) - 6 * np.maximum(micron - 21, 0) ** 2 * 10
                      + 1.8 * (staple - 85) + 4.0 * np.minimum(strength - 30, 0))
        w = weight * yld / 100
        lot = (per_fleece * w).sum() / w.sum()
        lot -= 140 * max(vm.max() - 2.5, 0)       # one burry fleece drags the whole lot
        lot += rng.normal(0, 25)                  # auction-room noise
        price[i] = lot
        rows.append(np.stack([micron, staple, strength, vm, yld, weight], 1))
        owner.append(np.full(m, i))
    return rows, price


train_rows, train_price = make_lots(3000)
valid_rows, valid_price = make_lots(600)
allx = np.concatenate(train_rows)
mu, sd = allx.mean(0), allx.std(0)
p_mu, p_sd = train_price.mean(), train_price.std()


def pack(rows, idx):
    feats = np.concatenate([(rows[i] - mu) / sd for i in idx]).astype(np.float32)
    seg = np.concatenate([np.full(len(rows[i]), k, dtype=np.int32) for k, i in enumerate(idx)])
    return mx.array(feats), mx.array(seg)


class LotPricer(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.fleece = nn.Sequential(nn.Linear(N_FEAT, hidden), nn.SiLU(),
                                    nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 1))

    def __call__(self, feats, seg, n_lots):
        h = self.fleece(feats)
        d = h.shape[1]
        total = mx.zeros((n_lots, d)).at[seg].add(h)
        count = mx.zeros((n_lots,)).at[seg].add(1.0)
        peak = mx.full((n_lots, d), -1e9).at[seg].maximum(h)
        mean = total / count[:, None]
        size = (count[:, None] - 7.5) / 3.0
        return self.head(mx.concatenate([mean, peak, size], axis=1)).squeeze(-1)


def loss_fn(model, feats, seg, y):
    pred = model(feats, seg, y.shape[0])
    return nn.losses.huber_loss(pred, y, delta=1.0, reduction="mean")


def valid_metrics(model):
    idx = np.arange(len(valid_rows))
    feats, seg = pack(valid_rows, idx)
    pred = model(feats, seg, len(idx)) * p_sd + p_mu
    err = np.abs(np.array(pred) - valid_price)
    return float(err.mean()), float((err <= 0.02 * valid_price).mean() * 100)


def sql(s):
    print(s, flush=True)


mx.random.seed(321)
model = LotPricer()
mx.eval(model.parameters())

BATCH, EPOCHS = 50, 24
steps_per_epoch = len(train_rows) // BATCH
total_steps = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.08, warm),
     optim.cosine_decay(0.08, total_steps - warm, 0.01)],
    [warm])
opt = optim.Adagrad(learning_rate=schedule)
step_fn = nn.value_and_grad(model, loss_fn)

# reference numbers
mean_mae = float(np.abs(train_price.mean() - valid_price).mean())
micron_only = np.array([2400 - 95 * (r[:, 0].mean() - 19.5) for r in valid_rows])
micron_mae = float(np.abs(micron_only - valid_price).mean())

sql("BEGIN;")
sql("CREATE TABLE IF NOT EXISTS lot_fit (epoch INT, step INT, lr REAL, "
    "train_huber REAL, valid_mae_ckg REAL, valid_within2pct REAL, secs REAL);")
sql(f"-- {len(train_rows)} train lots ({len(allx)} fleeces), {len(valid_rows)} valid lots")
sql(f"-- reference: predict-the-mean MAE {mean_mae:.1f} c/kg, "
    f"micron-only price book MAE {micron_mae:.1f} c/kg, auction noise MAE ~{25*0.798:.1f} c/kg")
m0, w0 = valid_metrics(model)
sql(f"INSERT INTO lot_fit VALUES (0, 0, 0.0, NULL, {m0:.2f}, {w0:.1f}, 0.0);")

t0 = time.perf_counter()
step = 0
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(len(train_rows))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = order[b * BATCH:(b + 1) * BATCH]
        feats, seg = pack(train_rows, idx)
        y = mx.array((train_price[idx] - p_mu) / p_sd)
        loss, grads = step_fn(model, feats, seg, y)
        if step == 0:
            flat = dict(nn.utils.tree_flatten(grads))
            zero = [k for k, g in flat.items() if float(mx.abs(g).sum()) == 0.0]
            sql(f"-- first step: {len(flat)} gradient leaves, {len(zero)} all-zero, "
                f"lr at this step {float(schedule(mx.array(0))):.3f}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    mae, within = valid_metrics(model)
    lr_now = float(schedule(mx.array(step)))
    sql(f"INSERT INTO lot_fit VALUES ({epoch}, {step}, {lr_now:.4f}, {run/steps_per_epoch:.4f}, "
        f"{mae:.2f}, {within:.1f}, {time.perf_counter()-t0:.1f});")

mae, within = valid_metrics(model)
sql(f"-- final valid MAE {mae:.1f} c/kg vs mean {mean_mae:.1f} and price book {micron_mae:.1f}; "
    f"{within:.1f}% of lots within 2%")
sql("COMMIT;")
