"""Oyster-mushroom grow room: predict days from spawning to first pins.

Stage "bench" trains on tidy lab bags, stage "shed" adds the messy
farm-shed bags (hotter, more variable). Early stopping restores the best
shed checkpoint. Everything is logged as one JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)


def make_bags(n, messy, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 8), key=k1)
    moisture, temp, co2, spawn, pasteur, light, ph, straw = [x[:, i] for i in range(8)]
    days = (11.0 - 1.6 * spawn + 1.1 * mx.abs(temp - 0.3) + 0.9 * co2
            - 0.7 * moisture * straw + 0.5 * mx.tanh(2 * ph) + 0.3 * light
            - 0.4 * pasteur)
    noise = 0.35 if not messy else 1.1
    if messy:
        days = days + 0.8 * temp * co2  # shed bags: heat and CO2 interact
    days = days + noise * mx.random.normal((n,), key=k2)
    return x, days


@mx.custom_function
def soft_sign(x):
    return x / (1.0 + mx.abs(x))


@soft_sign.vjp
def soft_sign_vjp(primals, cotangent, output):
    x = primals
    d = 1.0 + mx.abs(x)
    return (cotangent / (d * d),)


class PinNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = soft_sign(self.l1(x))
        h = soft_sign(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.5, reduction="mean")


def log(**kw):
    print(json.dumps(kw, separators=(",", ":")), flush=True)


keys = mx.random.split(mx.random.key(5), 4)
xb, yb = make_bags(1024, False, keys[0])
xs, ys = make_bags(1024, True, keys[1])
xv_b, yv_b = make_bags(256, False, keys[2])
xv_s, yv_s = make_bags(256, True, keys[3])
mx.eval(xb, yb, xs, ys, xv_b, yv_b, xv_s, yv_s)

# audit the hand-written VJP against autodiff of the same formula
probe = mx.linspace(-3, 3, 13)
g_custom = mx.grad(lambda z: soft_sign(z).sum())(probe)
g_auto = mx.grad(lambda z: (z / (1.0 + mx.abs(z))).sum())(probe)
log(event="vjp_audit", max_abs_diff=float(mx.abs(g_custom - g_auto).max()))

model = PinNet()
mx.eval(model.parameters())
mean_days = float(yb.mean())
model.out.bias = mx.array([mean_days])

warm = 40
peak = 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, 900, 2e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
state = [model.state, opt.state]




from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate(x, y):
    pred = model(x)
    mae = mx.abs(pred - y).mean()
    within = (mx.abs(pred - y) < 1.0).astype(mx.float32).mean() * 100
    return float(mae), float(within)


# first-step gradient check: every trainable tensor must move
_, g0 = nn.value_and_grad(model, loss_fn)(model, xb[:64], yb[:64])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log(event="grad_check", tensors=len(tree_flatten(g0)), zero_grad=zero)

baseline_mae = float(mx.abs(yv_s - mean_days).mean())
log(event="baseline", shed_mae_days=round(baseline_mae, 3), predictor="bench mean")

t0 = time.time()
batch = 64
gstep = 0
stages = [("bench", xb, yb, xv_b, yv_b, 12), ("shed", mx.concatenate([xb, xs]),
          mx.concatenate([yb, ys]), xv_s, yv_s, 30)]
for stage, X, Y, XV, YV, epochs in stages:
    best = (math.inf, None, 0)
    patience, bad = 5, 0
    for epoch in range(1, epochs + 1):
        perm = mx.random.permutation(X.shape[0])
        run = 0.0
        nb = 0
        for i in range(0, X.shape[0], batch):
            idx = perm[i:i + batch]
            loss = step(X[idx], Y[idx])
            mx.eval(loss, state)
            run += float(loss)
            nb += 1
            gstep += 1
        mae, within = evaluate(XV, YV)
        lr_now = float(opt.learning_rate)
        log(stage=stage, epoch=epoch, step=gstep, lr=f"{lr_now:.2e}",
            huber=round(run / nb, 4), val_mae_days=round(mae, 3),
            within_1d=f"{within:.1f}%")
        if mae < best[0] - 1e-3:
            best = (mae, tree_map(lambda a: a, model.parameters()), epoch)
            bad = 0
        else:
            bad += 1
            if stage == "shed" and bad >= patience:
                log(event="early_stop", stage=stage, epoch=epoch, best_epoch=best[2])
                break
    if best[1] is not None:
        model.update(best[1])
        mx.eval(model.parameters())
        mae, within = evaluate(XV, YV)
        log(event="restore", stage=stage, best_epoch=best[2], val_mae_days=round(mae, 3),
            within_1d=f"{within:.1f}%")

mae_b, w_b = evaluate(xv_b, yv_b)
mae_s, w_s = evaluate(xv_s, yv_s)
log(event="summary", bench_mae=round(mae_b, 3), shed_mae=round(mae_s, 3),
    shed_baseline=round(baseline_mae, 3), seconds=round(time.time() - t0, 1))
