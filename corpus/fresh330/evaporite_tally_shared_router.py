"""Salt works: daily harvested salt (kg per m2) per evaporation pan.

Seven synthetic readings per pan-day; three hidden weather regimes.
Model: shared expert that sees every row + 4 routed experts, top-1 router.
Stage A trains with the router held still, stage B releases it.
Adafactor, gradient accumulation over 4 micro-batches.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL, D = 6000, 1500, 7


def make_pans(n):
    sun_h = rng.uniform(2, 13, n)          # sunshine hours
    wind = rng.gamma(2.0, 2.5, n)          # m/s
    rh = rng.uniform(30, 98, n)            # relative humidity %
    brine = rng.uniform(18, 30, n)         # degrees Baume
    depth = rng.uniform(3, 15, n)          # cm
    air_c = rng.normal(24, 5, n)
    rain = rng.exponential(1.2, n) * (rng.random(n) < 0.25)
    x = np.stack([sun_h, wind, rh, brine, depth, air_c, rain], 1)
    sunny = (sun_h > 8) & (rh < 70)
    wet = (rain > 1.0) | (rh > 88)
    y = np.where(
        sunny,
        0.9 + 0.18 * sun_h + 0.05 * wind * (brine - 18) / 6 - 0.03 * depth,
        np.where(
            wet,
            0.4 - 0.35 * rain + 0.02 * air_c - 0.01 * rh,
            0.3 + 0.08 * sun_h + 0.09 * wind - 0.012 * (rh - 50) + 0.015 * air_c,
        ),
    )
    y = y + rng.normal(0, 0.08, n)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_pans(N_TRAIN)
xva, yva = make_pans(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = mx.array((xtr - mu) / sd)
Ytr = mx.array((ytr - ymu) / ysd)
Xva = mx.array((xva - mu) / sd)


class Expert(nn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, 1)

    def __call__(self, h):
        return self.l2(nn.silu(self.l1(h)))


class SharedRoutedNet(nn.Module):
    def __init__(self, d_in=D, width=32, n_routed=4):
        super().__init__()
        self.stem = nn.Linear(d_in, width)
        self.router = nn.Linear(width, n_routed)
        self.shared = Expert(width, 32)
        self.routed = [Expert(width, 32) for _ in range(n_routed)]
        self.n_routed = n_routed

    def __call__(self, x):
        h = nn.silu(self.stem(x))
        probs = mx.softmax(self.router(h), axis=-1)
        choice = mx.stop_gradient(mx.argmax(probs, axis=-1))
        onehot = (choice[:, None] == mx.arange(self.n_routed)[None, :]).astype(h.dtype)
        gate = (probs * onehot).sum(-1, keepdims=True)
        outs = mx.concatenate([e(h) for e in self.routed], axis=-1)
        routed_out = (outs * onehot).sum(-1, keepdims=True)
        y = self.shared(h) + gate * routed_out
        frac = onehot.mean(0)
        mean_p = probs.mean(0)
        balance = self.n_routed * (frac * mean_p).sum()
        return y.squeeze(-1), balance, onehot


def loss_fn(model, xb, yb):
    pred, balance, _ = model(xb)
    mse = ((pred - yb) ** 2).mean()
    return mse + 0.01 * balance, (mse, balance)


def evaluate(model):
    model.eval()
    pred, balance, onehot = model(Xva)
    model.train()
    pred_kg = np.array(pred) * ysd + ymu
    mae = float(np.abs(pred_kg - yva).mean())
    share = np.array(onehot.mean(0))
    nz = share[share > 0]
    ent = float(-(nz * np.log(nz)).sum())
    return mae, share, ent, float(balance)


def warm_then_flat(peak, warm):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, 1200, peak * 0.05)],
        [warm],
    )


MICRO, ACCUM = 64, 4
model = SharedRoutedNet()
mx.eval(model.parameters())

mean_guess = float(np.abs(yva - ytr.mean()).mean())
lsq_w, *_ = np.linalg.lstsq(np.c_[xtr, np.ones(len(xtr))], ytr, rcond=None)
lsq_mae = float(np.abs(np.c_[xva, np.ones(len(xva))] @ lsq_w - yva).mean())
print(json.dumps({"event": "start", "train": N_TRAIN, "val": N_VAL,
                  "mean_guess_mae": round(mean_guess, 4), "linear_mae": round(lsq_mae, 4)}))

untrained = evaluate(model)
print(json.dumps({"event": "untrained", "val_mae": round(untrained[0], 4)}))

stages = [("A", 3, True), ("B", 9, False)]
t0 = time.time()
global_update = 0
for stage, epochs, hold_router in stages:
    if hold_router:
        model.router.freeze()
    else:
        model.router.unfreeze()
    opt = optim.Adafactor(learning_rate=warm_then_flat(3e-3, 60), relative_step=False,
                          scale_parameter=False)
    step_fn = nn.value_and_grad(model, loss_fn)
    n_trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    router_before = np.array(model.router.weight)
    print(json.dumps({"event": "stage", "stage": stage, "router_held": hold_router,
                      "trainable": int(n_trainable)}))
    for ep in range(1, epochs + 1):
        perm = rng.permutation(N_TRAIN)
        acc, k, window = None, 0, []
        for s in range(0, N_TRAIN - MICRO + 1, MICRO):
            idx = mx.array(perm[s:s + MICRO])
            (tot, (mse, bal)), g = step_fn(model, Xtr[idx], Ytr[idx])
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            k += 1
            window.append(mse)
            if k == ACCUM:
                acc = tree_map(lambda a: a / ACCUM, acc)
                opt.update(model, acc)
                mx.eval(model.parameters(), opt.state)
                acc, k = None, 0
                global_update += 1
        train_mse = float(mx.stack(window).mean())
        if ep % 3 == 0 or ep == epochs:
            mae, share, ent, bal = evaluate(model)
            print(json.dumps({
                "stage": stage, "epoch": ep, "update": global_update,
                "lr": round(float(opt.learning_rate), 6),
                "train_mse_z": round(train_mse, 4), "val_mae": round(mae, 4),
                "mean_guess_mae": round(mean_guess, 4),
                "route_entropy": round(ent, 3), "balance": round(bal, 3),
                "share": [round(float(v), 3) for v in share],
                "secs": round(time.time() - t0, 1),
            }))
    moved = float(np.abs(np.array(model.router.weight) - router_before).max())
    print(json.dumps({"event": "stage_end", "stage": stage, "router_max_change": round(moved, 5)}))

mae, share, ent, bal = evaluate(model)
print(json.dumps({"event": "done", "val_mae": round(mae, 4), "mean_guess_mae": round(mean_guess, 4),
                  "linear_mae": round(lsq_mae, 4), "secs": round(time.time() - t0, 1)}))
