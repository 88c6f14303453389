"""Lacrosse shot speed (km/h) from stick, pocket and shooter readings.

One status line is redrawn in place ('\r') and only when the rounded held-out RMSE
changes; a wall-clock heartbeat goes to stderr. The run is done in two sittings:
the first one checkpoints to disk, the second rebuilds everything and resumes.
"""
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(1392)


def shots(n):
    shaft_len = rng.uniform(0.95, 1.15, n)      # m
    pocket_depth = rng.uniform(1.0, 6.0, n)     # cm
    mesh_wet = rng.integers(0, 2, n).astype(np.float64)
    arm_span = rng.normal(1.82, 0.08, n)        # m
    hip_turn = rng.uniform(30, 110, n)          # degrees
    run_up = rng.uniform(0, 8, n)               # m/s
    sidearm = rng.integers(0, 2, n).astype(np.float64)
    whip = np.exp(-((pocket_depth - 3.5) ** 2) / 4.0)
    speed = (55 + 38 * (shaft_len - 1.0) * arm_span + 0.22 * hip_turn + 2.1 * run_up
             + 14 * whip - 6 * mesh_wet - 4 * sidearm * (1 - whip)
             + 0.03 * hip_turn * run_up)
    speed = speed + rng.normal(0, 3.0, n)
    x = np.stack([shaft_len, pocket_depth, mesh_wet, arm_span, hip_turn, run_up, sidearm], 1)
    return x.astype(np.float32), speed.astype(np.float32)


xtr, ytr = shots(6000)
xva, yva = shots(1500)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ymu) / ysd), mx.array(yva)
ref_rmse = float(np.sqrt(((yva - ymu) ** 2).mean()))
print(f"{len(ytr)} logged shots, mean {ymu:.1f} km/h; "
      f"held-out RMSE of the team mean: {ref_rmse:.2f} km/h (radar noise 3.0)")


class ShotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.l3(h).squeeze(-1)


EPOCHS, BATCH = 16, 120
SPE = len(ytr) // BATCH
WARM = 150


def build():
    model = ShotNet()
    mx.eval(model.parameters())
    side = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                                 optim.cosine_decay(2e-3, EPOCHS * SPE - WARM, 1e-5)],
                                [WARM])
    opt = optim.MultiOptimizer(
        [optim.Muon(learning_rate=0.02, momentum=0.95), optim.AdamW(side, weight_decay=1e-4)],
        [lambda path, w: path.endswith("weight") and w.ndim == 2 and not path.startswith("l3")])
    return model, opt


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def val_rmse(model):
    p = model(Xva) * ysd + ymu
    return mx.sqrt(((p - Yva) ** 2).mean()).item()


def sitting(model, opt, first_epoch, last_epoch, label):
    lg = nn.value_and_grad(model, loss_fn)
    shown, last_beat = None, time.time()
    for epoch in range(first_epoch, last_epoch + 1):
        order = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        for b in range(SPE):
            idx = order[b * BATCH:(b + 1) * BATCH]
            loss, grads = lg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if time.time() - last_beat > 2.0:
                print(f"[alive] {label} epoch {epoch} batch {b + 1}/{SPE}", file=sys.stderr)
                last_beat = time.time()
        r = val_rmse(model)
        key = round(r * 2) / 2
        if shown is None or key != shown:
            shown = key
            sys.stdout.write(f"\r{label} | epoch {epoch:2d}/{EPOCHS} | train mse(z) "
                             f"{tot / SPE:.4f} | val rmse {r:5.2f} km/h   ")
            sys.stdout.flush()
    sys.stdout.write("\n")
    return val_rmse(model)


mx.random.seed(5)
model, opt = build()
print(f"untrained val rmse {val_rmse(model):.2f} km/h")
r1 = sitting(model, opt, 1, 7, "sitting 1")
ckpt = tempfile.mkdtemp(prefix="shots_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after epoch 7 (val rmse {r1:.2f}); session closed")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: val rmse {val_rmse(model):.2f} km/h")
r2 = sitting(model, opt, 8, EPOCHS, "sitting 2")
print(f"done: val rmse {r2:.2f} km/h vs team-mean {ref_rmse:.2f} km/h")
