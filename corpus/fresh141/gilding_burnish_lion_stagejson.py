"""Water-gilding workshop: predict burnish gloss (GU) of gold leaf.

Two training stages. Stage "studio" only sees panels gilded in the workshop
(narrow humidity band). Stage "site" adds restoration work done on location,
where damp walls make the bole swell and gloss collapses above ~65 % RH.
Each stage starts a fresh Lion optimizer whose learning rate warms up from 0.
Progress is written as JSON lines.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(141)


def make_panels(n, rh_lo, rh_hi):
    bole = rng.integers(3, 9, n).astype(np.float32)          # layers of bole
    gesso = rng.uniform(0.5, 2.5, n).astype(np.float32)      # mm
    rh = rng.uniform(rh_lo, rh_hi, n).astype(np.float32)     # %
    open_min = rng.uniform(5, 40, n).astype(np.float32)      # size open time
    press = rng.uniform(2, 12, n).astype(np.float32)         # burnisher N
    karat = rng.choice([18, 22, 23.5, 24], n).astype(np.float32)
    gloss = (
        38.0
        + 7.0 * np.tanh((open_min - 15.0) / 8.0)
        + 1.6 * bole
        + 4.0 * np.log(press) * (gesso / 1.5)
        + 0.9 * (karat - 22.0)
        - 18.0 / (1.0 + np.exp(-(rh - 66.0) / 3.0)) * (1.0 + 0.05 * press)
        + rng.normal(0, 1.5, n)
    ).astype(np.float32)
    x = np.stack([bole, gesso, rh, open_min, press, karat], axis=1)
    return x, gloss


x_studio, y_studio = make_panels(1500, 45, 55)
x_site, y_site = make_panels(1500, 30, 85)

# scaling fitted on everything the model will ever train on
x_all = np.concatenate([x_studio[:1200], x_site[:1200]])
mu, sd = x_all.mean(0), x_all.std(0)
y_mu, y_sd = float(np.concatenate([y_studio[:1200], y_site[:1200]]).mean()), 8.0


def prep(x, y):
    return mx.array((x - mu) / sd), mx.array((y - y_mu) / y_sd)


tr_studio = prep(x_studio[:1200], y_studio[:1200])
va_studio = prep(x_studio[1200:], y_studio[1200:])
tr_site = prep(x_site[:1200], y_site[:1200])
va_site = prep(x_site[1200:], y_site[1200:])


class GlossNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_gu(model, data):
    x, y = data
    return math.sqrt(loss_fn(model, x, y).item()) * y_sd


def baseline_gu(train, val):
    # predict the training mean for everybody
    return float(mx.sqrt(mx.mean((val[1] - mx.mean(train[1])) ** 2)).item()) * y_sd


mx.random.seed(7)
model = GlossNet()
mx.eval(model.parameters())

stages = [
    ("studio", tr_studio, va_studio, 300, 3e-4),
    ("site", (mx.concatenate([tr_studio[0], tr_site[0]]), mx.concatenate([tr_studio[1], tr_site[1]])),
     va_site, 400, 2e-4),
]

batch = 64
t0 = time.time()
for s_idx, (name, train, val, steps, peak) in enumerate(stages, 1):
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    if s_idx == 1:
        # one-off audit: every tensor gets a gradient
        _, g0 = vg(model, train[0][:batch], train[1][:batch])
        zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum().item()) == 0.0]
        print(json.dumps({"audit": "grad_nonzero", "tensors": len(tree_flatten(g0)), "zero": zero}))

    n = train[0].shape[0]
    base = baseline_gu(train, val)
    running = []
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, batch))
        loss = step(train[0][idx], train[1][idx])
        mx.eval(loss, model.parameters(), opt.state)
        running.append(loss.item())
        if it == 1 or it % 25 == 0:
            lr_now = float(opt.learning_rate.item())
            rec = {
                "stage": name,
                "step": it,
                "lr": round(lr_now, 7),
                "train_rmse_gu": round(math.sqrt(sum(running) / len(running)) * y_sd, 3),
                "val_rmse_gu": round(rmse_gu(model, val), 3),
                "mean_baseline_gu": round(base, 3),
            }
            running = []
            print(json.dumps(rec))

final = {
    "summary": True,
    "studio_val_rmse_gu": round(rmse_gu(model, va_studio), 3),
    "site_val_rmse_gu": round(rmse_gu(model, va_site), 3),
    "site_mean_baseline_gu": round(baseline_gu(stages[1][1], va_site), 3),
    "noise_floor_gu": 1.5,
    "seconds": round(time.time() - t0, 2),
}
print(json.dumps(final))
