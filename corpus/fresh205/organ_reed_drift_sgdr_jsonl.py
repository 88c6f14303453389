# Pipe-organ reed stops drift out of tune between visits of the tuner.
# Regress the drift (cents) of a reed pipe from the church conditions, with a
# small MLP trained by hand-written RMSprop + momentum and an SGDR schedule
# whose every cycle warms up from a learning rate of exactly 0.
import json
import math

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

N_TRAIN, N_VAL = 3000, 600
FEATS = ["temp_c", "rel_hum", "days_since", "pipe_len_ft", "wind_mm", "tongue_mm"]


def make_church(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    temp = 4.0 + 20.0 * u[:, 0]
    hum = 30.0 + 55.0 * u[:, 1]
    days = 120.0 * u[:, 2]
    length = 1.0 + 15.0 * u[:, 3]
    wind = 60.0 + 40.0 * u[:, 4]
    tongue = 0.2 + 0.6 * u[:, 5]
    # made-up drift law (cents): reeds go flat/sharp against the flues with
    # temperature, humidity and time; long pipes drift less.
    drift = (
        -0.9 * (temp - 15.0)
        + 0.05 * (hum - 55.0) * mx.log1p(days)
        + 0.04 * days / mx.sqrt(length)
        + 6.0 * mx.sin(tongue * 6.0) * (wind - 80.0) / 40.0
    )
    drift = drift + 1.2 * mx.random.normal(shape=(n,), key=k2)
    X = mx.stack([temp, hum, days, length, wind, tongue], axis=1)
    return X, drift[:, None]


key = mx.random.key(11)
ka, kb = mx.random.split(key)
Xtr, ytr = make_church(N_TRAIN, ka)
Xva, yva = make_church(N_VAL, kb)
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ymu, ysd = ytr.mean(), ytr.std()


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


net = ReedNet()
mx.eval(net.parameters())


def loss_fn(model, x, y):
    pred = model(x) * ysd + ymu
    return mx.mean(mx.square(pred - y)) / (ysd * ysd)


grad_fn = nn.value_and_grad(net, loss_fn)

# hand-written RMSprop with heavy-ball momentum
sq = tree_map(lambda p: mx.zeros_like(p), net.trainable_parameters())
mom = tree_map(lambda p: mx.zeros_like(p), net.trainable_parameters())
RHO, BETA, EPS = 0.95, 0.9, 1e-8

CYCLES = [150, 300, 600]  # steps per SGDR cycle, doubled each time
WARM = 12
PEAK = 4e-3
BATCH = 100
baseline_mae = mx.mean(mx.abs(yva - ymu)).item()  # predict-the-mean reference


def lr_at(t, length):
    if t < WARM:
        return PEAK * t / WARM  # t == 0 gives exactly 0.0
    p = (t - WARM) / max(1, length - WARM)
    return 0.5 * PEAK * (1.0 + math.cos(math.pi * p))


global_step = 0
perm_key = mx.random.key(3)
for cycle, length in enumerate(CYCLES):
    run = 0.0
    for t in range(length):
        perm_key, sub = mx.random.split(perm_key)
        idx = mx.random.randint(0, N_TRAIN, (BATCH,), key=sub)
        lr = lr_at(t, length)
        loss, g = grad_fn(net, Xtr[idx], ytr[idx])
        sq = tree_map(lambda s, gi: RHO * s + (1 - RHO) * gi * gi, sq, g)
        mom = tree_map(
            lambda m, gi, s: BETA * m + gi / (mx.sqrt(s) + EPS), mom, g, sq
        )
        new_params = tree_map(lambda p, m: p - lr * m, net.trainable_parameters(), mom)
        net.update(new_params)
        mx.eval(net.parameters(), sq, mom, loss)
        run += loss.item()
        global_step += 1
        if (t + 1) % 50 == 0 or t == 0:
            pv = net(Xva) * ysd + ymu
            mae = mx.mean(mx.abs(pv - yva)).item()
            rec = {
                "cycle": cycle,
                "t": t,
                "step": global_step,
                "lr": round(lr, 7),
                "train_nmse": round(run / (t + 1), 4),
                "val_mae_cents": round(mae, 3),
                "baseline_mae_cents": round(baseline_mae, 3),
            }
            print(json.dumps(rec))

pv = net(Xva) * ysd + ymu
mae = mx.mean(mx.abs(pv - yva)).item()
gn = sum(mx.sum(v * v).item() for _, v in tree_flatten(g)) ** 0.5
print(json.dumps({"final": True, "val_mae_cents": round(mae, 3),
                  "baseline_mae_cents": round(baseline_mae, 3),
                  "ratio": round(mae / baseline_mae, 3), "last_grad_norm": round(gn, 5)}))
