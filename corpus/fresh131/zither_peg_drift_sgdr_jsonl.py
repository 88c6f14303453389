"""Zither peg drift: predict how many cents each string drifts after N hours,
from room temperature, humidity, string gauge and course. Lion + warm restarts,
JSON-lines log, early stopping that restores the best weights."""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(7)
mx.random.seed(7)

N_STRINGS = 34


def make_rows(n):
    rows, ys = [], []
    for _ in range(n):
        s = random.randrange(N_STRINGS)
        temp = random.uniform(14.0, 30.0)        # deg C
        hum = random.uniform(25.0, 75.0)         # % RH
        hours = random.uniform(0.5, 72.0)
        gauge = 0.25 + 0.035 * s                 # mm, bass strings are thicker
        steel = 1.0 if s < 22 else 0.0           # treble courses steel, bass wound
        drift = (-1.9 * (temp - 21.0) * (1.0 + 0.6 * steel)
                 + 0.45 * (hum - 50.0) * (1.0 - steel)
                 - 9.0 * math.log1p(hours) * (1.3 - gauge)
                 + 3.0 * math.sin(s / 3.0))
        drift += random.gauss(0.0, 1.5)
        feats = [(temp - 22.0) / 5.0, (hum - 50.0) / 15.0, math.log1p(hours) / 2.0,
                 (gauge - 0.83) / 0.35, steel, math.sin(s / 3.0), math.cos(s / 3.0)]
        rows.append(feats)
        ys.append(drift)
    return mx.array(rows), mx.array(ys)


xtr, ytr = make_rows(1600)
xva, yva = make_rows(400)
y_mu, y_sd = ytr.mean(), mx.sqrt(ytr.var())


class DriftNet(nn.Module):
    def __init__(self, d_in=7, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.norm = nn.LayerNorm(h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.silu(self.norm(self.l1(x)))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = DriftNet()
mx.eval(model.parameters())

# first cycle starts from an lr of exactly 0 (linear warm-up), later cycles restart hot
CYCLE_EPOCHS = [6, 10, 14]
BATCH = 64
steps_per_epoch = xtr.shape[0] // BATCH
warm = optim.linear_schedule(0.0, 3e-3, steps_per_epoch * 2)
first_decay = optim.cosine_decay(3e-3, steps_per_epoch * (CYCLE_EPOCHS[0] - 2), 1e-5)
opt = optim.Lion(learning_rate=optim.join_schedules([warm, first_decay],
                                                    [steps_per_epoch * 2]),
                 weight_decay=1e-3)


def loss_fn(m, x, y):
    pred = m(x)
    return nn.losses.huber_loss(pred, (y - y_mu) / y_sd, delta=1.0, reduction="mean")


step = nn.value_and_grad(model, loss_fn)


def val_mae_cents():
    pred = model(xva) * y_sd + y_mu
    return mx.abs(pred - yva).mean().item()


baseline_mae = mx.abs(yva - y_mu).mean().item()   # predict the training mean
best = {"mae": float("inf"), "params": None, "where": None}
patience, bad = 4, 0
global_epoch = 0
stop = False
for cycle, n_ep in enumerate(CYCLE_EPOCHS):
    if cycle > 0:
        # warm restart: a fresh cosine from a high lr; the loss jumps up first
        peak = 3e-3 * (0.6 ** cycle)
        opt.learning_rate = peak
        sched = optim.cosine_decay(peak, steps_per_epoch * n_ep, 1e-5)
        base_step = opt.step.item()
        opt._schedulers["learning_rate"] = (lambda s, f=sched, b=base_step: f(s - b))
        bad = 0
    for ep in range(n_ep):
        perm = mx.array(random.sample(range(xtr.shape[0]), xtr.shape[0]))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        global_epoch += 1
        mae = val_mae_cents()
        rec = {"cycle": cycle, "ep": ep, "lr": round(opt.learning_rate.item(), 6),
               "huber": round(tot / steps_per_epoch, 4), "val_mae_cents": round(mae, 3),
               "mean_guess_mae_cents": round(baseline_mae, 3),
               "skill_pct": round(100.0 * (1.0 - mae / baseline_mae), 1)}
        print(json.dumps(rec), flush=True)
        if mae < best["mae"] - 1e-3:
            best = {"mae": mae, "params": tree_map(lambda a: mx.array(a), model.parameters()),
                    "where": (cycle, ep)}
            bad = 0
        else:
            bad += 1
            if bad >= patience and cycle == len(CYCLE_EPOCHS) - 1:
                stop = True
                break
    if stop:
        break

model.update(best["params"])
mx.eval(model.parameters())
final = val_mae_cents()
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(json.dumps({"event": "restored_best", "from": list(best["where"]),
                  "val_mae_cents": round(final, 3), "mean_guess_mae_cents": round(baseline_mae, 3),
                  "epochs_run": global_epoch, "n_params": int(n_params)}))
