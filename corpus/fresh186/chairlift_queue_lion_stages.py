# Ski resort ops: predict chairlift queue wait (minutes) from 6 lift/weather readings.
# Stage "calm" trains on calm-weather days; stage "gusty" adds wind-hold days (harder,
# noisier), so the loss jumps up at the stage change before it comes down again.
# Gradients go through mx.distributed all_sum (single process here: world size 1).
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(11)
group = mx.distributed.init()
WORLD = group.size()
RANK = group.rank()


def simulate(n, gusty_share):
    # columns: skiers arriving /min, lift speed m/s, chairs in service (frac), wind m/s,
    #          hour of day (scaled), ticket-scan gates open
    arrivals = mx.random.uniform(2, 30, (n,))
    speed = mx.random.uniform(3.0, 5.0, (n,))
    chairs = mx.random.uniform(0.6, 1.0, (n,))
    gusty = mx.random.uniform(shape=(n,)) < gusty_share
    wind = mx.where(gusty, mx.random.uniform(10, 18, (n,)), mx.random.uniform(0, 8, (n,)))
    hour = mx.random.uniform(0, 1, (n,))
    gates = mx.random.randint(2, 7, (n,)).astype(mx.float32)
    capacity = 6.0 * speed * chairs                          # skiers/min the lift can move
    slow = mx.where(wind > 10, 0.55 + 0.02 * (18 - wind), 1.0)  # wind-hold slow running
    load = arrivals / (capacity * slow)
    wait = 12.0 * mx.log1p(mx.exp(4.0 * (load - 0.7))) / 4.0 + 0.8 * mx.sin(math.pi * hour) \
        + 3.0 / gates
    noise = mx.where(gusty, 1.5, 0.4) * mx.random.normal((n,))
    X = mx.stack([arrivals / 30, (speed - 4) / 1, chairs, wind / 18, hour, gates / 6], axis=1)
    return X, mx.maximum(wait + noise, 0.0)


class WaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def huber(model, X, y):
    return nn.losses.huber_loss(model(X), y, delta=2.0, reduction="mean")


model = WaitNet()
mx.eval(model.parameters())
STAGES = [("calm", 0.0, 150), ("gusty", 0.45, 200)]
PEAK = 3e-3
BATCH = 128
loss_and_grad = nn.value_and_grad(model, huber)

for stage_idx, (stage, gust_share, steps) in enumerate(STAGES):
    # each stage restarts the schedule from an LR of exactly 0 (linear warm-up), then cosine
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, 30), optim.cosine_decay(PEAK, steps - 30, 1e-5)], [30]
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    Xv, yv = simulate(1500, gust_share)
    base_mae = mx.abs(yv - yv.mean()).mean().item()          # predict-the-mean baseline
    for step in range(steps):
        X, y = simulate(BATCH, gust_share)
        loss, grads = loss_and_grad(model, X, y)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 25 == 0 or step == steps - 1:
            mae = mx.abs(model(Xv) - yv).mean().item()
            gnorm = math.sqrt(sum((g * g).sum().item() for _, g in tree_flatten(grads)))
            if RANK == 0:
                print(json.dumps({
                    "stage": stage, "step": step, "lr": round(lr_now, 7),
                    "huber": round(loss.item(), 4), "val_mae_min": round(mae, 3),
                    "baseline_mae_min": round(base_mae, 3), "grad_l2": round(gnorm, 4),
                    "world": WORLD,
                }))

# audit: every trainable tensor received gradient in the last step
zero = [k for k, g in tree_flatten(grads) if mx.abs(g).sum().item() == 0.0]
print(json.dumps({"audit": "nonzero_grads", "tensors": len(tree_flatten(grads)), "all_zero": zero}))
