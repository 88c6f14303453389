"""Orienteering: predict a runner's leg time from the leg and the runner.

Training is split in two sessions the way a laptop run gets interrupted:
session 1 trains a few epochs and writes a checkpoint (weights, optimizer state,
epoch counter); session 2 builds everything from scratch, loads that
checkpoint and carries on.  The learning rate warms up linearly from 0, so the
very first update of session 1 does not move the weights.
"""
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["dist_km", "climb_m", "runnability", "green_share", "control_difficulty",
            "runner_vo2", "runner_age", "night"]
BATCH = 64
EPOCHS_TOTAL = 20
EPOCHS_SESSION1 = 8
PEAK_LR = 2e-3


def make_legs(n, rng):
    dist = rng.uniform(0.2, 2.5, n)
    climb = rng.gamma(2.0, 12.0, n) * dist
    runnab = rng.uniform(0.3, 1.0, n)
    green = rng.beta(1.5, 4.0, n)
    diff = rng.integers(1, 6, n).astype(np.float64)
    vo2 = rng.normal(52, 7, n)
    age = rng.uniform(16, 70, n)
    night = (rng.random(n) < 0.15).astype(np.float64)
    pace = 4.2 * (52 / vo2) ** 1.1 * (1 + 0.006 * np.maximum(age - 35, 0))
    pace = pace / (0.45 + 0.55 * runnab) * (1 + 0.9 * green)
    minutes = dist * pace + climb / 10.0 + 0.35 * diff ** 1.3 * (1 + 0.8 * night)
    minutes = minutes * np.exp(rng.normal(0, 0.06, n))
    X = np.stack([dist, climb, runnab, green, diff, vo2, age, night], 1)
    return X.astype(np.float32), np.log(minutes).astype(np.float32)


class LegTimeNet(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.25, reduction="mean")


def lr_schedule(steps_per_epoch):
    warm = steps_per_epoch
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, warm),
         optim.cosine_decay(PEAK_LR, steps_per_epoch * EPOCHS_TOTAL - warm, 1e-5)],
        [warm])


def build(steps_per_epoch):
    model = LegTimeNet(len(FEATURES))
    opt = optim.AdamW(learning_rate=lr_schedule(steps_per_epoch), weight_decay=1e-4)
    return model, opt


def evaluate(model, X, y):
    pred = model(X)
    mae_min = mx.abs(mx.exp(pred) - mx.exp(y)).mean()
    within = (mx.abs(pred - y) < math.log(1.10)).mean()
    return mae_min.item(), 100.0 * within.item()


def save_checkpoint(path, model, opt, epoch):
    os.makedirs(path, exist_ok=True)
    model.save_weights(os.path.join(path, "model.safetensors"))
    mx.save_safetensors(os.path.join(path, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump({"epoch": epoch}, f)


def load_checkpoint(path, model, opt):
    model.load_weights(os.path.join(path, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "optimizer.safetensors")).items()))
    with open(os.path.join(path, "meta.json")) as f:
        return json.load(f)["epoch"]


def run_epochs(model, opt, Xtr, ytr, Xva, yva, first, last, rng, t0, grad_check=False):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    for epoch in range(first, last + 1):
        perm = mx.array(rng.permutation(n))
        tot, nb = 0.0, 0
        for b in range(0, n - BATCH + 1, BATCH):
            idx = perm[b:b + BATCH]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            if grad_check:
                flat = tree_flatten(grads)
                nz = sum(1 for _, g in flat if mx.abs(g).max().item() > 0)
                lr1 = lr_schedule(n // BATCH)(mx.array(0)).item()
                print(f"  first-step gradients: {nz}/{len(flat)} leaves non-zero, "
                      f"warm-up lr at step 1 = {lr1:.2e}")
                grad_check = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        mae, hit = evaluate(model, Xva, yva)
        print(f"  epoch {epoch:2d}/{EPOCHS_TOTAL}  step {int(opt.step.item()):5d}  "
              f"lr {opt.learning_rate.item():.2e}  train huber {tot / nb:.5f}  "
              f"val MAE {mae:5.2f} min  within 10%: {hit:5.1f}%  ({time.time() - t0:.1f}s)")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    X, y = make_legs(14000, rng)
    mu, sd = X[:12000].mean(0), X[:12000].std(0)
    X = (X - mu) / sd
    Xtr, ytr = mx.array(X[:12000]), mx.array(y[:12000])
    Xva, yva = mx.array(X[12000:]), mx.array(y[12000:])
    steps_per_epoch = 12000 // BATCH
    base_mae = float(np.abs(np.exp(y[12000:]) - np.exp(np.median(y[:12000]))).mean())
    print(f"orienteering legs: {Xtr.shape[0]} train / {Xva.shape[0]} val, "
          f"{len(FEATURES)} features; predict-the-median MAE {base_mae:.2f} min")

    tmp = tempfile.mkdtemp(prefix="oleg_")
    ckpt = os.path.join(tmp, "ckpt")
    t0 = time.time()

    print("session 1")
    model, opt = build(steps_per_epoch)
    mae, hit = evaluate(model, Xva, yva)
    print(f"  untrained: val MAE {mae:.2f} min  within 10%: {hit:.1f}%")
    run_epochs(model, opt, Xtr, ytr, Xva, yva, 1, EPOCHS_SESSION1, rng, t0, grad_check=True)
    save_checkpoint(ckpt, model, opt, EPOCHS_SESSION1)
    ref = evaluate(model, Xva, yva)
    print(f"  checkpoint written after epoch {EPOCHS_SESSION1} -> {ckpt}")
    del model, opt

    print("session 2 (fresh objects, resumed from checkpoint)")
    model, opt = build(steps_per_epoch)
    done = load_checkpoint(ckpt, model, opt)
    mae, hit = evaluate(model, Xva, yva)
    print(f"  restored epoch {done}: val MAE {mae:.2f} min (was {ref[0]:.2f}), "
          f"optimizer step {int(opt.step.item())}")
    run_epochs(model, opt, Xtr, ytr, Xva, yva, done + 1, EPOCHS_TOTAL, rng, t0)
    mae, hit = evaluate(model, Xva, yva)
    print(f"finished: val MAE {mae:.2f} min, {hit:.1f}% of legs within 10%, {time.time() - t0:.1f}s")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
