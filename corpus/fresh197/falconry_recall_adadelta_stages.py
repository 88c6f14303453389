"""Falconry weigh-book: predict how many seconds a Harris hawk takes to return to the
glove on a recall, from the morning weigh-in and field notes.

Trained in three stages: calm days first, then every day (windy ones included),
then a short head-only polish with the trunk frozen. Each stage starts its own
AdaDelta with a learning rate that ramps up from 0.
"""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

FEATURES = ["weight_g", "delta_target_g", "wind_kph", "temp_c", "distance_m", "days_since_moult", "food_yesterday_g"]


def make_weigh_book(n):
    rows, ys = [], []
    for _ in range(n):
        weight = random.gauss(700, 35)
        target = 680 + random.gauss(0, 8)
        delta = weight - target
        wind = abs(random.gauss(0, 14))
        temp = random.gauss(12, 6)
        dist = random.uniform(20, 120)
        moult = random.uniform(0, 200)
        food = random.gauss(80, 12)
        secs = (2.0 + 0.035 * dist + 0.06 * max(delta, 0.0) + 0.012 * max(delta, 0.0) ** 1.5 / 10
                + 0.004 * wind ** 2 * (dist / 80) - 0.05 * (temp - 12) + 0.01 * (food - 80)
                + 0.004 * max(0.0, 60 - moult))
        secs += random.gauss(0, 0.35 + 0.03 * wind)
        rows.append([weight, delta, wind, temp, dist, moult, food])
        ys.append(secs)
    return mx.array(rows), mx.array(ys)


X_all, y_all = make_weigh_book(1600)
X_tr, y_tr = X_all[:1200], y_all[:1200]
X_va, y_va = X_all[1200:], y_all[1200:]
mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-6
y_mu, y_sd = y_tr.mean(), y_tr.std()


def norm(x):
    return (x - mu) / sd


calm_tr = mx.array([i for i in range(X_tr.shape[0]) if X_tr[i, 2].item() < 10.0])


class RecallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(len(FEATURES), 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.trunk(norm(x))).squeeze(-1) * y_sd + y_mu


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def mae(model, x, y):
    return mx.abs(model(x) - y).mean().item()


model = RecallNet()
mx.eval(model.parameters())
baseline_va = mx.abs(y_va - y_tr.mean()).mean().item()

# every trainable tensor should see gradient signal
_, g0 = nn.value_and_grad(model, huber)(model, X_tr[:256], y_tr[:256])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(f"# tensors={len(tree_flatten(g0))} without grad={len(dead)}  baseline(val)={baseline_va:.3f}s")

stages = [
    ("calm", calm_tr, 300, 1.0, False),
    ("all-weather", mx.arange(X_tr.shape[0]), 400, 1.0, False),
    ("head-polish", mx.arange(X_tr.shape[0]), 200, 0.3, True),
]

print(f"{'stage':<12} {'step':>5} {'lr':>7} {'train_s':>8} {'val_s':>8} {'ref_s':>7}")
best = (math.inf, None)
for name, idx, steps, peak, freeze_trunk in stages:
    if freeze_trunk:
        model.trunk.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    warm = steps // 4
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm])
    opt = optim.AdaDelta(learning_rate=sched, rho=0.95, eps=1e-6)
    step_fn = nn.value_and_grad(model, huber)
    print(f"-- {name}: {idx.shape[0]} flights, {n_train} trainable weights")
    for step in range(steps):
        batch = idx[mx.random.randint(0, idx.shape[0], (64,))]
        loss, grads = step_fn(model, X_tr[batch], y_tr[batch])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            lr_now = opt.learning_rate.item()
            tr = mae(model, X_tr[idx], y_tr[idx])
            va = mae(model, X_va, y_va)
            print(f"{name:<12} {step:>5} {lr_now:>7.4f} {tr:>8.3f} {va:>8.3f} {baseline_va:>7.3f}")
    va = mae(model, X_va, y_va)
    if va < best[0]:
        best = (va, name)

print(f"final val MAE {mae(model, X_va, y_va):.3f}s vs predict-the-mean {baseline_va:.3f}s (best after '{best[1]}')")
