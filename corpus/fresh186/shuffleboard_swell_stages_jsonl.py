"""Deck shuffleboard on a cruise ship: predict where a pushed disc stops.

Two heads: stopping-zone class (off-short, 7, 8, 10, kitchen, off-long) and stop
distance along the court (m).  Trained in two stages: calm sea first, then a
stage with ship roll/swell, which is harder (the stage-2 loss starts higher).
Each stage warms the learning rate up from exactly 0 and then cosine-decays it.
Logs JSON lines.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

ZONES = ["short", "7", "8", "10", "kitchen", "long"]
EDGES = np.array([7.0, 7.8, 8.6, 9.4, 10.2])  # m from the push line


def simulate(n, roll_sd, rng):
    speed = rng.uniform(2.6, 4.6, n)          # m/s at release
    wax = rng.uniform(0.8, 1.2, n)            # deck slickness factor
    angle = rng.normal(0.0, 3.0, n)           # deg off centre line
    roll = rng.normal(0.0, roll_sd, n)        # ship roll, deg (+ = bow up)
    mu = 0.11 / wax
    g = 9.81
    decel = mu * g + g * np.sin(np.radians(roll)) * 0.6
    dist = speed ** 2 / (2.0 * np.maximum(decel, 0.3)) * np.cos(np.radians(angle))
    dist = dist + rng.normal(0, 0.12, n)
    zone = np.searchsorted(EDGES, dist)
    # swell readings are noisy: the logger records a smoothed roll
    roll_seen = roll + rng.normal(0, 0.5 * roll_sd + 1e-3, n)
    x = np.stack([speed, wax, angle, roll_seen, speed * wax], 1).astype(np.float32)
    return x, zone.astype(np.int32), dist.astype(np.float32)


class DiscNet(nn.Module):
    def __init__(self, d_in=5, hid=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hid), nn.GELU(), nn.Linear(hid, hid), nn.GELU())
        self.zone = nn.Linear(hid, len(ZONES))
        self.dist = nn.Linear(hid, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.zone(h), self.dist(h).squeeze(-1)


def losses(model, x, z, d):
    logits, dh = model(x)
    ce = nn.losses.cross_entropy(logits, z, reduction="mean")
    hub = nn.losses.huber_loss(dh, d, delta=0.5, reduction="mean")
    return ce + hub, (ce, hub)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    calm = simulate(6000, 0.0, rng)
    swell = simulate(6000, 2.5, rng)
    val_swell = simulate(1500, 2.5, rng)
    mean = calm[0].mean(0)
    sd = swell[0].std(0) + 1e-6

    def prep(data):
        x, z, d = data
        return mx.array((x - mean) / sd), mx.array(z), mx.array(d)

    model = DiscNet()
    mx.eval(model.parameters())
    stages = [("calm", prep(calm), 500), ("swell", prep(swell), 700)]
    vx, vz, vd = prep(val_swell)
    prior = np.bincount(val_swell[1], minlength=len(ZONES)) / len(val_swell[1])
    prior_ce = float(-np.log(prior[val_swell[1]] + 1e-9).mean())
    base_mae = float(np.abs(val_swell[2] - val_swell[2].mean()).mean())

    bs = 128
    t0 = time.time()
    for name, (x, z, d), steps in stages:
        warm = 60
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
        opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
        state = [model.state, opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def step(xb, zb, db):
            (tot, (ce, hub)), g = nn.value_and_grad(model, losses)(model, xb, zb, db)
            opt.update(model, g)
            return tot, ce, hub

        n = x.shape[0]
        for it in range(steps):
            idx = mx.array(np.random.default_rng(it + 1000 * len(name)).integers(0, n, bs))
            lr_now = opt.learning_rate.item() if it % 100 == 0 else None
            tot, ce, hub = step(x[idx], z[idx], d[idx])
            mx.eval(tot, ce, hub, model.parameters(), opt.state)
            if it % 100 == 0 or it == steps - 1:
                logits, dh = model(vx)
                vce = nn.losses.cross_entropy(logits, vz, reduction="mean")
                acc = (mx.argmax(logits, -1) == vz).mean()
                mae = mx.abs(dh - vd).mean()
                mx.eval(vce, acc, mae)
                print(json.dumps({
                    "stage": name, "step": it, "lr": None if lr_now is None else round(lr_now, 6),
                    "train": {"ce": round(ce.item(), 4), "huber": round(hub.item(), 4)},
                    "val_swell": {"ce": round(vce.item(), 4), "acc_pct": round(100 * acc.item(), 1),
                                  "mae_m": round(mae.item(), 3)},
                    "ref": {"prior_ce": round(prior_ce, 4), "mean_mae_m": round(base_mae, 3)},
                }))
    print(json.dumps({"done": True, "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
