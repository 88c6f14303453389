"""Tadelakt (Moroccan lime plaster) crew: predict how many hours a freshly trowelled
wall needs before it can be stone-polished and soaped, from 6 site readings.

Two curriculum stages: first only the master's walls (thin, even coats, low noise),
then the apprentices' walls join (thick/uneven coats, a humidity regime the model
has not seen, more noise), so the loss jumps when stage 2 starts and then comes down.
Learning rate warms up from exactly 0. One JSON object per report line.
"""
import json
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2024)
mx.random.seed(2024)


def cure_hours(rh, temp_c, coat_um, pigment_frac, layers, prior_soap):
    # made-up law: lime sets evenly near 75-85% RH and 25 C; thick coats slow it down
    rh_pen = ((rh - 80.0) / 9.0) ** 2
    t_pen = ((temp_c - 25.0) / 6.0) ** 2
    base = 14.0 + 0.22 * coat_um + 6.0 * rh_pen + 4.0 * t_pen
    base += 5.0 * pigment_frac * np.log1p(layers) - 3.0 * prior_soap + 0.6 * layers
    return base


def make_set(n, apprentice):
    if apprentice:
        rh = rng.uniform(55, 92, n)
        temp_c = rng.uniform(14, 32, n)
        coat_um = rng.gamma(4.0, 12.0, n)
        noise = 4.0
    else:
        rh = rng.uniform(72, 88, n)
        temp_c = rng.uniform(21, 28, n)
        coat_um = rng.gamma(6.0, 3.0, n)
        noise = 1.0
    pigment = rng.uniform(0, 1, n)
    layers = rng.integers(1, 7, n).astype(np.float64)
    prior_soap = rng.integers(0, 2, n).astype(np.float64)
    y = cure_hours(rh, temp_c, coat_um, pigment, layers, prior_soap) + rng.normal(0, noise, n)
    X = np.stack([rh, temp_c, coat_um, pigment, layers, prior_soap], 1)
    return X, y


Xm, ym = make_set(1600, apprentice=False)
Xa, ya = make_set(1600, apprentice=True)
Xv_m, yv_m = make_set(300, apprentice=False)
Xv_a, yv_a = make_set(300, apprentice=True)

# scale with the final (mixed) statistics, as the workshop notebook does
X_all = np.concatenate([Xm, Xa])
mu, sd = X_all.mean(0), X_all.std(0)
y_mu, y_sd = np.concatenate([ym, ya]).mean(), np.concatenate([ym, ya]).std()


def prep(X, y):
    return mx.array(((X - mu) / sd).astype(np.float32)), mx.array(((y - y_mu) / y_sd).astype(np.float32))


tr_m = prep(Xm, ym)
tr_a = prep(Xa, ya)
va = prep(np.concatenate([Xv_m, Xv_a]), np.concatenate([yv_m, yv_a]))


class TrowelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.n1 = nn.LayerNorm(48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.n1(self.l1(x)))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = TrowelNet()
mx.eval(model.parameters())

STEPS_STAGE1, STEPS_STAGE2, BATCH = 300, 700, 64
TOTAL = STEPS_STAGE1 + STEPS_STAGE2
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 80), optim.cosine_decay(3e-3, TOTAL - 80, 1e-4)], [80]
)
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_metrics():
    pred = model(va[0])
    mae_h = mx.abs(pred - va[1]).mean() * y_sd
    ss_res = ((pred - va[1]) ** 2).sum()
    ss_tot = ((va[1] - va[1].mean()) ** 2).sum()
    return mae_h.item(), (1.0 - ss_res / ss_tot).item() * 100.0


baseline_mae = float(np.abs(np.concatenate([yv_m, yv_a]) - y_mu).mean())
run = 0.0
for it in range(1, TOTAL + 1):
    stage = 1 if it <= STEPS_STAGE1 else 2
    if stage == 1:
        idx = mx.array(rng.integers(0, tr_m[0].shape[0], BATCH))
        xb, yb = tr_m[0][idx], tr_m[1][idx]
    else:
        half = BATCH // 2
        i1 = mx.array(rng.integers(0, tr_m[0].shape[0], half))
        i2 = mx.array(rng.integers(0, tr_a[0].shape[0], BATCH - half))
        xb = mx.concatenate([tr_m[0][i1], tr_a[0][i2]])
        yb = mx.concatenate([tr_m[1][i1], tr_a[1][i2]])
    loss = step(xb, yb)
    mx.eval(loss, state)
    run = loss.item() if it == 1 else 0.9 * run + 0.1 * loss.item()
    if it == 1 or it % 50 == 0 or it == STEPS_STAGE1 + 1:
        mae_h, r2 = val_metrics()
        print(json.dumps({
            "step": it, "stage": stage, "lr": round(float(sched(mx.array(it - 1)).item()), 6),
            "huber_ema": round(run, 4), "val_mae_h": round(mae_h, 2),
            "val_r2_pct": round(r2, 1), "mean_guess_mae_h": round(baseline_mae, 2),
        }))

mae_h, r2 = val_metrics()
print(f"done: polish-ready time MAE {mae_h:.2f} h (mean-guess {baseline_mae:.2f} h), R2 {r2:.1f}%")
