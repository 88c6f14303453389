"""Hop kiln: moisture left in the cone after drying (%), from kiln readings.

Learning-rate search by successive halving. Eight trials start; after each
rung the worse half is dropped and the survivors are written to disk, rebuilt
from the files (weights + optimizer state) and trained on for twice as long.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)


def kiln_batches(n):
    air_t = rng.uniform(55, 75, n)        # deg C
    flow = rng.uniform(0.3, 1.2, n)       # m/s
    depth = rng.uniform(20, 60, n)        # cm of green hops on the floor
    hours = rng.uniform(6, 12, n)
    rh = rng.uniform(20, 70, n)           # inlet humidity %
    start = rng.uniform(75, 82, n)        # % moisture when picked
    k = 0.012 * (air_t - 40) * flow ** 0.6 * (1 - rh / 150) / (depth / 40)
    left = 8 + (start - 8) * np.exp(-k * hours)
    left = left + rng.normal(0, 0.6, n)
    x = np.stack([air_t, flow, depth, hours, rh, start], 1)
    return x.astype(np.float32), left.astype(np.float32)


xtr, ytr = kiln_batches(6000)
xva, yva = kiln_batches(1500)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
ym, ys = float(ytr.mean()), float(ytr.std())
Ytr, Yva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)
base_mae = float(np.mean(np.abs(yva - ym)))


def build():
    return nn.Sequential(nn.Linear(6, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x).squeeze(-1), y)


def score(model):
    pred = model(Xva).squeeze(-1) * ys + ym
    mse = float(nn.losses.mse_loss(model(Xva).squeeze(-1), Yva))
    mae = float(mx.mean(mx.abs(pred - mx.array(yva))))
    return mse, mae


WARM = 20


def make_opt(lr):
    sched = optim.join_schedules([optim.linear_schedule(0.0, lr, WARM), lambda s: lr], [WARM])
    return optim.SGD(learning_rate=sched, momentum=0.9)


LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]
ckdir = tempfile.mkdtemp()
trials = {}
for i, lr in enumerate(LRS):
    mx.random.seed(100 + i)
    m = build()
    mx.eval(m.parameters())
    trials[i] = {"lr": lr, "model": m, "opt": make_opt(lr), "seed": 100 + i}

print(f"kiln rows train 6000 / valid 1500; valid MAE of the mean predictor {base_mae:.2f} % moisture")
print(f"{len(LRS)} trials, SGD momentum 0.9, linear warm-up from 0 over {WARM} steps then flat lr")
print("rung,trial,lr,steps_so_far,valid_mse_std,valid_mae_pct,status")

budget = 40
rung = 0
batch_rng = np.random.default_rng(5)
while True:
    rung += 1
    for tid, t in trials.items():
        model, opt = t["model"], t["opt"]
        vg = nn.value_and_grad(model, loss_fn)
        for _ in range(budget):
            idx = mx.array(batch_rng.integers(0, 6000, 64))
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        mse, mae = score(model)
        t["mse"] = mse if math.isfinite(mse) else float("inf")
        print(f"{rung},{tid},{t['lr']:g},{int(opt.state['step'])},{mse:.4f},{mae:.3f},trained")
    if len(trials) == 1:
        break
    ranked = sorted(trials, key=lambda k: trials[k]["mse"])
    keep = ranked[: len(ranked) // 2]
    for tid in ranked[len(ranked) // 2:]:
        print(f"{rung},{tid},{trials[tid]['lr']:g},{int(trials[tid]['opt'].state['step'])},"
              f"{trials[tid]['mse']:.4f},,dropped")
    survivors = {}
    for tid in keep:
        t = trials[tid]
        wpath = os.path.join(ckdir, f"t{tid}_r{rung}.safetensors")
        opath = os.path.join(ckdir, f"t{tid}_r{rung}_opt.safetensors")
        t["model"].save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(t["opt"].state)))
        m = build()
        m.load_weights(wpath)
        o = make_opt(t["lr"])
        o.state = tree_unflatten(list(mx.load(opath).items()))
        mse_back, _ = score(m)
        print(f"{rung},{tid},{t['lr']:g},{int(o.state['step'])},{mse_back:.4f},,reloaded")
        survivors[tid] = {"lr": t["lr"], "model": m, "opt": o, "seed": t["seed"]}
    trials = survivors
    budget *= 2

(tid, t), = trials.items()
mse, mae = score(t["model"])
print(f"# winner trial {tid} lr {t['lr']:g} after {int(t['opt'].state['step'])} steps: "
      f"valid MAE {mae:.3f} % moisture (mean predictor {base_mae:.2f}, noise sd 0.60 -> MAE floor ~0.48)")
