"""Ferry terminal: count of booked cars that miss the sailing (made-up data).

Poisson regression. The hour-of-day embedding is a fixed sinusoidal table that
is frozen on purpose; only the MLP on top trains. The step is compiled with the
model and optimizer state as inputs/outputs. Learning rate warms up from 0.
Early stopping on validation deviance restores the best weights at the end.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CFG = dict(n_train=16000, n_val=3000, batch=128, epochs=14, peak_lr=3e-3, warmup=200,
           patience=4, seed=7)


def make_sailings(n, rng):
    hour = rng.integers(0, 24, size=n)
    booked = rng.integers(20, 160, size=n)
    rain = rng.uniform(0, 1, size=n)
    weekend = rng.integers(0, 2, size=n)
    swell = rng.gamma(2.0, 0.6, size=n)
    rate = (np.log(booked) - 3.2 + 0.9 * rain + 0.35 * weekend
            + 0.6 * np.cos(2 * np.pi * (hour - 6) / 24) + 0.3 * np.tanh(swell - 1.5))
    y = rng.poisson(np.exp(rate))
    num = np.stack([np.log(booked) - 4.2, rain - 0.5, weekend - 0.5, swell - 1.2], axis=1)
    return hour.astype(np.int32), num.astype(np.float32), y.astype(np.float32)


class NoShowModel(nn.Module):
    def __init__(self, emb_dim=8, hidden=48):
        super().__init__()
        self.hour_emb = nn.Embedding(24, emb_dim)
        pos = np.arange(24)[:, None] * (2 * np.pi / 24) * (np.arange(emb_dim // 2)[None, :] + 1)
        self.hour_emb.weight = mx.array(np.concatenate([np.sin(pos), np.cos(pos)], axis=1).astype(np.float32))
        self.body = nn.Sequential(nn.Linear(emb_dim + 4, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def __call__(self, hour, num):
        h = mx.concatenate([self.hour_emb(hour), num], axis=1)
        return self.body(h)[:, 0]   # log-rate


def poisson_nll(model, hour, num, y):
    log_mu = model(hour, num)
    return mx.mean(mx.exp(log_mu) - y * log_mu)   # Poisson NLL without the log(y!) constant


def deviance(model, hour, num, y):
    mu = mx.exp(model(hour, num))
    term = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-8) / mu), 0.0)
    return 2.0 * mx.mean(term - (y - mu))


def main():
    rng = np.random.default_rng(CFG["seed"])
    mx.random.seed(CFG["seed"])
    tr = make_sailings(CFG["n_train"], rng)
    va = [mx.array(a) for a in make_sailings(CFG["n_val"], rng)]
    model = NoShowModel()
    model.hour_emb.freeze()
    frozen_before = np.array(model.hour_emb.weight)
    mx.eval(model.parameters())

    steps_per_epoch = CFG["n_train"] // CFG["batch"]
    total = steps_per_epoch * CFG["epochs"]
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, CFG["peak_lr"], CFG["warmup"]),
         optim.cosine_decay(CFG["peak_lr"], total - CFG["warmup"], 1e-5)], [CFG["warmup"]])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, poisson_nll)

    # gradient audit on the first batch, before anything is applied
    h0, n0, y0 = (mx.array(a[:CFG["batch"]]) for a in tr)
    _, g0 = loss_and_grad(model, h0, n0, y0)
    flat = tree_flatten(g0)
    print(json.dumps({"event": "grad_check", "trainable_leaves": len(flat),
                      "zero_leaves": [k for k, g in flat if mx.all(g == 0).item()],
                      "frozen": [k for k, _ in tree_flatten(model.parameters()) if k.startswith("hour_emb")],
                      "lr_first_update": float(sched(mx.array(0)))}))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(hour, num, y):
        loss, grads = loss_and_grad(model, hour, num, y)
        opt.update(model, grads)
        return loss

    mean_y = float(np.mean(tr[2]))
    null_dev = float(2.0 * np.mean(np.where(tr[2] > 0, tr[2] * np.log(np.maximum(tr[2], 1e-8) / mean_y), 0.0) - (tr[2] - mean_y)))
    print(json.dumps({"event": "data", "train": CFG["n_train"], "val": CFG["n_val"],
                      "mean_no_shows": round(mean_y, 3), "null_deviance_train": round(null_dev, 4),
                      "val_deviance_untrained": round(deviance(model, *va).item(), 4)}))

    best, best_dev, bad, t0 = None, float("inf"), 0, time.time()
    for epoch in range(1, CFG["epochs"] + 1):
        perm = rng.permutation(CFG["n_train"])
        losses = []
        for b in range(steps_per_epoch):
            idx = perm[b * CFG["batch"]:(b + 1) * CFG["batch"]]
            loss = step(mx.array(tr[0][idx]), mx.array(tr[1][idx]), mx.array(tr[2][idx]))
            mx.eval(state, loss)
            losses.append(loss.item())
        vdev = deviance(model, *va).item()
        vnull = float(2.0 * np.mean(np.where(np.array(va[2]) > 0, np.array(va[2]) * np.log(np.maximum(np.array(va[2]), 1e-8) / mean_y), 0.0) - (np.array(va[2]) - mean_y)))
        improved = vdev < best_dev - 1e-4
        if improved:
            best_dev, bad = vdev, 0
            best = tree_flatten(model.parameters())
        else:
            bad += 1
        print(json.dumps({"epoch": epoch, "lr": round(float(opt.learning_rate), 6),
                          "train_poisson_nll": round(float(np.mean(losses)), 4),
                          "val_deviance": round(vdev, 4),
                          "val_deviance_explained_pct": round(100.0 * (1 - vdev / vnull), 2),
                          "best": improved, "secs": round(time.time() - t0, 1)}))
        if bad >= CFG["patience"]:
            print(json.dumps({"event": "early_stop", "epoch": epoch}))
            break

    model.update(tree_unflatten(best))
    mx.eval(model.parameters())
    drift = float(np.max(np.abs(np.array(model.hour_emb.weight) - frozen_before)))
    print(json.dumps({"event": "done", "restored_val_deviance": round(deviance(model, *va).item(), 4),
                      "best_val_deviance": round(best_dev, 4), "hour_table_max_change": drift}))


if __name__ == "__main__":
    main()
