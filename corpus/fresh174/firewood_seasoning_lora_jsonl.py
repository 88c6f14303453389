"""Firewood yard: adapt last season's moisture model to the new hill-side yard.

The base regressor (moisture content, % wet basis, after N weeks of seasoning)
was fitted on the valley yard; we keep it frozen and learn low-rank adapters
for the hill yard. Two curriculum stages: summer-split loads first, then the
wet-autumn loads are mixed in (harder, so the loss goes up when they arrive).
Every log line is one JSON object.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
N_FEAT = 8  # density, split width, stack height, covered, weeks, month sin, month cos, autumn-felled


def make_loads(n, yard, wet_share):
    dens = mx.random.uniform(0.35, 0.85, (n,))          # g/cm3
    width = mx.random.uniform(6.0, 18.0, (n,))          # cm
    stack = mx.random.uniform(0.8, 2.0, (n,))           # m
    covered = (mx.random.uniform(shape=(n,)) < 0.6).astype(mx.float32)
    weeks = mx.random.uniform(0.0, 60.0, (n,))
    month = mx.random.randint(0, 12, (n,)).astype(mx.float32)
    wet = (mx.random.uniform(shape=(n,)) < wet_share).astype(mx.float32)
    drying = 0.055 * (1.2 - dens) * (14.0 / width) * (0.7 + 0.5 * covered)
    drying = drying * (1.0 - 0.35 * wet) * (1.0 + 0.08 * mx.sin(2 * math.pi * month / 12))
    if yard == "hill":
        drying = drying * (1.25 - 0.15 * stack)          # windier, but tall stacks shade
        floor = 14.0 + 6.0 * wet
    else:
        drying = drying * 1.0
        floor = 17.0 + 3.0 * wet
    mc = floor + (50.0 - floor) * mx.exp(-drying * weeks)
    mc = mc + 1.2 * mx.random.normal((n,))
    x = mx.stack([
        (dens - 0.6) / 0.15, (width - 12.0) / 3.5, (stack - 1.4) / 0.35,
        covered * 2 - 1, (weeks - 30.0) / 17.0,
        mx.sin(2 * math.pi * month / 12), mx.cos(2 * math.pi * month / 12),
        wet * 2 - 1,
    ], axis=1)
    return x, ((mc - 30.0) / 10.0)[:, None]


class LowRank(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(in_dims)
        self.down = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.up = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.down) @ self.up)


class MoistureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h)) + h
        return self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def points(model, x, y):
    err = (model(x) - y) * 10.0  # back to moisture percentage points
    return mx.abs(err).mean().item(), mx.sqrt((err * err).mean()).item()


# "checkpoint" of the valley yard model (fitted here, quietly)
net = MoistureNet()
pre_opt = optim.Adam(learning_rate=3e-3)
pre_step = nn.value_and_grad(net, mse)
for _ in range(700):
    xb, yb = make_loads(256, "valley", 0.3)
    l, g = pre_step(net, xb, yb)
    pre_opt.update(net, g)
    mx.eval(net.parameters(), pre_opt.state)

xv_dry, yv_dry = make_loads(2000, "hill", 0.0)
xv_wet, yv_wet = make_loads(2000, "hill", 1.0)
ref_dry = points(net, xv_dry, yv_dry)
ref_wet = points(net, xv_wet, yv_wet)

net.freeze()
net.inp = LowRank(net.inp, rank=4, alpha=8.0)
net.mid = LowRank(net.mid, rank=4, alpha=8.0)
net.out = LowRank(net.out, rank=2, alpha=4.0)
n_adapt = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(net.parameters()))
print(json.dumps({"event": "setup", "trainable": n_adapt, "total": n_all,
                  "frozen_share_pct": round(100 * (1 - n_adapt / n_all), 1)}))

warm = 80
total = 900
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 2e-4)], [warm])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.0)
step_fn = nn.value_and_grad(net, mse)

stages = [("summer", 0.0, 350), ("autumn_mix", 0.55, total)]
step = 0
for name, wet_share, until in stages:
    while step < until:
        lr_now = opt.learning_rate.item()
        xb, yb = make_loads(128, "hill", wet_share)
        loss, grads = step_fn(net, xb, yb)
        opt.update(net, grads)
        mx.eval(net.trainable_parameters(), opt.state, loss)
        step += 1
        if step == 1 or step % 75 == 0 or step == until:
            dry = points(net, xv_dry, yv_dry)
            wet = points(net, xv_wet, yv_wet)
            print(json.dumps({
                "stage": name, "step": step, "lr": float(f"{lr_now:.3e}"),
                "batch_mse": round(loss.item(), 4),
                "dry_mae_pts": round(dry[0], 3), "wet_mae_pts": round(wet[0], 3),
                "wet_rmse_pts": round(wet[1], 3),
                "ref_dry_mae_pts": round(ref_dry[0], 3), "ref_wet_mae_pts": round(ref_wet[0], 3),
            }))

# adapter audit: every low-rank factor must be carrying gradient
xb, yb = make_loads(512, "hill", 0.5)
_, grads = step_fn(net, xb, yb)
audit = {k: round(mx.linalg.norm(v).item(), 5) for k, v in tree_flatten(grads)}
print(json.dumps({"event": "grad_audit", **audit}))
up_norms = {k: round(mx.linalg.norm(v).item(), 4) for k, v in tree_flatten(net.trainable_parameters()) if k.endswith("up")}
print(json.dumps({"event": "adapter_up_norms", **up_norms}))
final_dry = points(net, xv_dry, yv_dry)
final_wet = points(net, xv_wet, yv_wet)
print(json.dumps({"event": "done", "dry_mae_pts": round(final_dry[0], 3), "wet_mae_pts": round(final_wet[0], 3),
                  "ref_dry_mae_pts": round(ref_dry[0], 3), "ref_wet_mae_pts": round(ref_wet[0], 3)}))
