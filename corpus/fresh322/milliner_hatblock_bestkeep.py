"""Millinery workroom: how much a wool-felt hood shrinks (% of its brim width)
when it is steamed and pulled over a wooden hat block. Inputs are six
workroom notes: felt weight, steam seconds, block size, room humidity,
hood age in weeks and whether the hood was pre-stiffened.

The spread of the shrinkage depends on humidity, so the net predicts a mean
and a log-variance and is trained with a Gaussian negative log-likelihood
(the number goes below zero once the spread is learned). The learning rate
restarts three times (cosine cycles). After every epoch the best validation
NLL is written to disk; at the end that file is read back into a fresh net.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

EPOCHS = 24
BATCH = 128
CYCLE_EPOCHS = 8


def make_hoods(n, rng):
    weight = rng.uniform(80, 160, n)        # g
    steam = rng.uniform(5, 60, n)           # s
    block = rng.uniform(54, 62, n)          # cm head size
    humid = rng.uniform(25, 85, n)          # % RH
    age = rng.uniform(0, 52, n)             # weeks in stock
    stiff = rng.integers(0, 2, n).astype(np.float64)
    mean = (2.0 + 0.05 * steam - 0.012 * (weight - 120) + 0.15 * (block - 58)
            - 0.9 * stiff + 0.02 * age * (1 - stiff) + 1.2 * np.tanh((humid - 55) / 15))
    spread = 0.05 + 0.5 * ((humid - 25) / 60) ** 2
    y = mean + rng.normal(0, 1, n) * spread
    x = np.stack([(weight - 120) / 23, (steam - 32) / 16, (block - 58) / 2.3,
                  (humid - 55) / 17, (age - 26) / 15, stiff - 0.5], 1)
    return x.astype(np.float32), y.astype(np.float32), spread.astype(np.float32)


class HoodNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def nll(model, x, y):
    mu, logvar = model(x)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(logvar), full=True, reduction="mean")


def evaluate(model, x, y):
    mu, logvar = model(mx.array(x))
    sd = mx.exp(0.5 * logvar)
    yy = mx.array(y)
    val_nll = nn.losses.gaussian_nll_loss(mu, yy, sd * sd, full=True, reduction="mean").item()
    mae = mx.mean(mx.abs(mu - yy)).item()
    cover = mx.mean((mx.abs(mu - yy) <= 1.645 * sd).astype(mx.float32)).item()
    return val_nll, mae, cover


def main():
    t0 = time.time()
    rng = np.random.default_rng(21)
    xtr, ytr, _ = make_hoods(8000, rng)
    xva, yva, sva = make_hoods(1500, rng)
    steps_per_epoch = len(ytr) // BATCH
    cycle = CYCLE_EPOCHS * steps_per_epoch

    floor_nll = float(np.mean(0.5 * np.log(2 * math.pi * sva ** 2) + 0.5))
    const_sd = float(ytr.std())
    const_nll = float(np.mean(0.5 * np.log(2 * math.pi * const_sd ** 2)
                              + 0.5 * ((yva - ytr.mean()) / const_sd) ** 2))
    print(f"hoods: {len(ytr)} train / {len(yva)} val, {steps_per_epoch} steps per epoch")
    print(f"constant-Gaussian NLL {const_nll:.3f}   true-spread floor NLL {floor_nll:.3f}")

    mx.random.seed(3)
    model = HoodNet()
    lr = optim.join_schedules(
        [optim.cosine_decay(2e-3, cycle, 5e-5) for _ in range(EPOCHS // CYCLE_EPOCHS)],
        [cycle * k for k in range(1, EPOCHS // CYCLE_EPOCHS)])
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, nll)

    best = (float("inf"), -1)
    with tempfile.TemporaryDirectory() as folder:
        keep = os.path.join(folder, "best_hoodnet.safetensors")
        for epoch in range(1, EPOCHS + 1):
            order = rng.permutation(len(ytr))
            total = 0.0
            for b in range(steps_per_epoch):
                idx = order[b * BATCH:(b + 1) * BATCH]
                loss, grads = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
                grads, _ = optim.clip_grad_norm(grads, 5.0)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                total += loss.item()
            val_nll, mae, cover = evaluate(model, xva, yva)
            mark = ""
            if val_nll < best[0]:
                best = (val_nll, epoch)
                model.save_weights(keep)
                mark = "  <- kept"
            print(f"epoch {epoch:2d}  lr {opt.learning_rate.item():.2e}  train NLL {total / steps_per_epoch:+.3f}  "
                  f"val NLL {val_nll:+.3f}  MAE {mae:.3f}  90% cover {cover:.2f}{mark}")

        fresh = HoodNet()
        fresh.load_weights(keep)
        mx.eval(fresh.parameters())
        val_nll, mae, cover = evaluate(fresh, xva, yva)
    print(f"reloaded best (epoch {best[1]}): val NLL {val_nll:+.3f} (recorded {best[0]:+.3f}), "
          f"MAE {mae:.3f}, 90% cover {cover:.2f}")
    print(f"reference: constant NLL {const_nll:+.3f}, floor NLL {floor_nll:+.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
