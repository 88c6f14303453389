"""Spin-bowling delivery classifier: leg-break / googly / top-spinner / flipper
from synthetic release telemetry. Two stages: nets sessions (clean sensors),
then match footage (noisier tracking, more disguise). Each stage warms its
learning rate up from exactly zero. One JSON object per logged step."""
import json
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
CLASSES = ["legbreak", "googly", "topspinner", "flipper"]
FEATS = ["wrist_angle", "seam_tilt", "revs_k", "speed_kmh", "drift_cm", "dip_cm", "arm_height", "back_of_hand"]


def bowl(n, noise, disguise):
    y = rng.integers(0, 4, size=n)
    # latent per-class centres (unitless, roughly standardised)
    centre = np.array([
        [1.0, 0.8, 0.6, -0.2, 0.9, 0.3, 0.0, -1.0],   # legbreak
        [-0.9, -0.7, 0.5, -0.1, -0.8, 0.4, 0.1, 1.0],  # googly
        [0.0, 0.0, 0.7, 0.1, 0.0, 1.1, 0.2, 0.0],      # topspinner
        [0.1, -0.2, -0.6, 1.0, 0.0, -1.0, -0.4, -0.3], # flipper
    ])
    c = centre[y]
    # disguise: the googly borrows the leg-break's wrist/back-of-hand look
    mix = disguise * (y == 1)[:, None]
    c = c * (1 - mix * np.array([1, 0, 0, 0, 0, 0, 0, 1])) + mix * centre[0] * np.array([1, 0, 0, 0, 0, 0, 0, 1])
    x = c + noise * rng.standard_normal((n, len(FEATS)))
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class DeliveryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, len(CLASSES))

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


model = DeliveryNet()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)

stages = [
    {"name": "nets", "noise": 0.45, "disguise": 0.0, "steps": 220, "peak_lr": 3e-3},
    {"name": "match", "noise": 0.8, "disguise": 0.7, "steps": 320, "peak_lr": 1.5e-3},
]

for s_idx, st in enumerate(stages):
    xtr, ytr = bowl(2048, st["noise"], st["disguise"])
    xva, yva = bowl(512, st["noise"], st["disguise"])
    # majority-class baseline accuracy for reference
    counts = np.bincount(np.array(yva), minlength=4)
    base_acc = counts.max() / counts.sum()
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak_lr"], warm),
         optim.cosine_decay(st["peak_lr"], st["steps"] - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    for step in range(st["steps"]):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=64))
        lr_now = opt.learning_rate.item() if isinstance(opt.learning_rate, mx.array) else sched(opt.step)
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == st["steps"] - 1:
            vloss = loss_fn(model, xva, yva).item()
            rec = {
                "stage": st["name"], "step": step, "lr": round(float(lr_now), 6),
                "ce_train": round(loss.item(), 4), "ce_val": round(vloss, 4),
                "acc_val": round(accuracy(model, xva, yva), 4),
                "acc_majority": round(float(base_acc), 4),
                "ce_uniform": round(math.log(4), 4),
            }
            print(json.dumps(rec))
            sys.stdout.flush()

final = {"event": "summary", "stages": len(stages),
         "params": sum(v.size for _, v in tree_flatten(model.parameters()))}
print(json.dumps(final))
