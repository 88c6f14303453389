"""Luge run-time model: predict the finish time (s) of a luge run from start/track readings.

Two stages: first fit on the clean 'training runs' (two tracks, mild weather), then move on
to the 'race heats' (all four tracks, colder ice, more timing noise).  The track embedding is
a fixed lookup table we keep frozen; only the MLP learns.  Each stage warms its learning rate
up from exactly 0.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)

TRACK_LEN = mx.array([1.32, 1.45, 1.21, 1.38])      # km
TRACK_CURVES = mx.array([14.0, 16.0, 12.0, 15.0])


def make_runs(n, tracks, cold, noise_s, key):
    k1, k2, k3, k4, k5, k6 = mx.random.split(key, 6)
    track = tracks[mx.random.randint(0, len(tracks), (n,), key=k1)]
    push = 5.0 + 0.35 * mx.random.normal((n,), key=k2)            # start push time, s
    mass = 82.0 + 7.0 * mx.random.normal((n,), key=k3)            # athlete + sled, kg
    ice = -6.0 - cold * mx.random.uniform(shape=(n,), key=k4)     # ice temperature, C
    runner_dt = 4.0 * mx.random.uniform(shape=(n,), key=k5)       # runner warmer than ice, K
    L = TRACK_LEN[track]
    C = TRACK_CURVES[track]
    t = (36.0 * L + 0.9 * (push - 5.0) - 0.045 * (mass - 82.0)
         + 0.05 * (ice + 6.0) ** 2 / 4.0 - 0.22 * mx.tanh(runner_dt - 1.5)
         + 0.03 * C * mx.maximum(push - 5.2, 0.0) * 4.0)
    t = t + noise_s * mx.random.normal((n,), key=k6)
    x = mx.stack([(push - 5.0) / 0.35, (mass - 82.0) / 7.0, (ice + 10.0) / 5.0,
                  (runner_dt - 2.0) / 1.2], axis=1)
    return x, track, t


class RunTimeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.track_emb = nn.Embedding(4, 6)
        self.body = nn.Sequential(nn.Linear(10, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(),
                                  nn.Linear(48, 1))

    def __call__(self, x, track):
        h = mx.concatenate([x, self.track_emb(track)], axis=1)
        return self.body(h).squeeze(-1)


T_MEAN, T_SD = 48.5, 4.0


def loss_fn(model, x, track, t):
    pred = model(x, track)
    return nn.losses.huber_loss(pred, (t - T_MEAN) / T_SD, delta=0.5, reduction="mean")


def mae_ms(model, x, track, t):
    pred = model(x, track) * T_SD + T_MEAN
    return 1000.0 * mx.mean(mx.abs(pred - t)).item()


model = RunTimeNet()
# the track table is a fixed lookup (think: surveyed track signature), kept out of training
model.track_emb.weight = mx.random.normal((4, 6), key=mx.random.key(99))
model.track_emb.freeze()
mx.eval(model.parameters())

stages = [
    dict(name="training_runs", tracks=mx.array([0, 1]), cold=2.0, noise=0.03, steps=240, peak=4e-3),
    dict(name="race_heats", tracks=mx.array([0, 1, 2, 3]), cold=10.0, noise=0.06, steps=360, peak=2e-3),
]

key = mx.random.key(2024)
t0 = time.time()
checked_grads = False
for si, st in enumerate(stages):
    key, ktr, kva = mx.random.split(key, 3)
    xtr, trtr, ttr = make_runs(3072, st["tracks"], st["cold"], st["noise"], ktr)
    xva, trva, tva = make_runs(768, st["tracks"], st["cold"], st["noise"], kva)
    baseline_ms = 1000.0 * mx.mean(mx.abs(tva - mx.mean(ttr))).item()
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak"], warm),
         optim.cosine_decay(st["peak"], st["steps"] - warm, st["peak"] * 0.05)], [warm])
    opt = optim.Adamax(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    for it in range(st["steps"]):
        idx = mx.random.randint(0, xtr.shape[0], (128,))
        lr_now = opt.learning_rate.item() if it > 0 else 0.0
        loss, grads = vg(model, xtr[idx], trtr[idx], ttr[idx])
        if not checked_grads:
            zero = [k for k, g in tree_flatten(grads) if mx.abs(g).sum().item() == 0.0]
            trainable = len(tree_flatten(model.trainable_parameters()))
            print(json.dumps({"check": "grad_audit", "trainable_tensors": trainable,
                              "zero_grad_tensors": zero,
                              "frozen": ["track_emb.weight"],
                              "track_table_norm": round(mx.linalg.norm(model.track_emb.weight).item(), 4)}))
            checked_grads = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 40 == 0 or it == st["steps"] - 1:
            rec = {"stage": st["name"], "it": it, "lr": round(lr_now, 6),
                   "huber": round(loss.item(), 5),
                   "val_mae_ms": round(mae_ms(model, xva, trva, tva), 1),
                   "mean_time_ref_ms": round(baseline_ms, 1)}
            print(json.dumps(rec))
    print(json.dumps({"stage_done": st["name"], "val_mae_ms": round(mae_ms(model, xva, trva, tva), 1),
                      "ref_ms": round(baseline_ms, 1), "elapsed_s": round(time.time() - t0, 2)}))

print(json.dumps({"summary": "luge run-time model", "final_val_mae_ms": round(mae_ms(model, xva, trva, tva), 1),
                  "track_table_norm": round(mx.linalg.norm(model.track_emb.weight).item(), 4)}))
