"""Hay baling: moisture (% wet basis) of a round bale at wrapping time, with
its own spread, from seven windrow / baler readings.

The network predicts a mean and a log-variance and is trained with the
Gaussian negative log-likelihood, so the loss drops below zero once the
predicted spread gets small. SGD with momentum (gradient norm clipped at 2) follows a cosine schedule
with warm restarts (cycles of 150, 300 and 600 steps); the loss climbs at
each restart on purpose. After every epoch the weights are written to an
.npz file when the validation NLL improves; at the end the best file is
loaded back into a new model and scored against simple baselines.
"""

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

SEED = 5
N_TRAIN, N_VAL = 5000, 1200
BATCH = 100
CYCLES = [150, 300, 600]
LR_HI, LR_LO = 0.02, 2e-4
CLIP = 2.0


def make_bales(n, rng):
    hours_cut = rng.uniform(20.0, 96.0, n)      # hours since mowing
    sun = rng.uniform(0.0, 1.0, n)              # share of sunny hours
    rh = rng.uniform(35.0, 95.0, n)             # relative humidity at baling
    tedded = rng.integers(0, 3, n).astype(np.float64)  # tedding passes
    swath_kg = rng.uniform(0.8, 2.6, n)         # swath density kg/m2
    legume = rng.uniform(0.0, 0.6, n)           # clover/alfalfa share
    dew = rng.integers(0, 2, n).astype(np.float64)  # baled with dew still on
    dry_rate = 0.018 * (0.5 + sun) * (1.0 + 0.25 * tedded) / (0.6 + 0.4 * swath_kg)
    dry_rate = dry_rate * (1.0 - 0.35 * legume)
    base = 78.0 * np.exp(-dry_rate * hours_cut)
    equilibrium = 9.0 + 0.12 * (rh - 35.0)
    moisture = np.maximum(base, equilibrium) + 4.5 * dew
    # spread is larger for thick legume swaths baled in humid air
    spread = 0.8 + 2.2 * legume * swath_kg / 2.6 + 0.03 * (rh - 35.0)
    y = moisture + spread * rng.standard_normal(n)
    x = np.stack([hours_cut, sun, rh, tedded, swath_kg, legume, dew], axis=1)
    return x.astype(np.float32), y.astype(np.float32), spread.astype(np.float32)


class BaleNet(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )
        self.mean_head = nn.Linear(width, 1)
        self.logvar_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    logvar = mx.clip(logvar, -8.0, 8.0)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar)) + 0.5 * math.log(2 * math.pi))


def sgdr_schedule():
    pieces, bounds, at = [], [], 0
    for i, length in enumerate(CYCLES):
        pieces.append(optim.cosine_decay(LR_HI, length, end=LR_LO))
        at += length
        if i < len(CYCLES) - 1:
            bounds.append(at)
    return optim.join_schedules(pieces, bounds), at


def evaluate(model, xv, yv):
    mu, logvar = model(xv)
    nll = gaussian_nll(model, xv, yv).item()
    rmse = math.sqrt(mx.mean((mu - yv) ** 2).item())
    mean_sd = mx.mean(mx.exp(0.5 * mx.clip(logvar, -8.0, 8.0))).item()
    return nll, rmse, mean_sd


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    x_tr, y_tr, _ = make_bales(N_TRAIN, rng)
    x_va, y_va, s_va = make_bales(N_VAL, rng)
    mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
    y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
    xt = mx.array((x_tr - mu_x) / sd_x)
    xv = mx.array((x_va - mu_x) / sd_x)
    yt = mx.array((y_tr - y_mu) / y_sd)
    yv = mx.array((y_va - y_mu) / y_sd)

    # baselines on the standardised scale
    base_nll = 0.5 * math.log(2 * math.pi * float(np.var((y_va - y_mu) / y_sd))) + 0.5
    oracle_nll = float(np.mean(0.5 * np.log(2 * np.pi * (s_va / y_sd) ** 2) + 0.5))
    print(f"bales: train {N_TRAIN} val {N_VAL}; moisture mean {y_mu:.1f}% sd {y_sd:.1f}%")
    print(f"baseline NLL (one Gaussian for all bales) {base_nll:.4f}; oracle NLL (true law) {oracle_nll:.4f}")

    mx.random.seed(SEED)
    model = BaleNet(xt.shape[1])
    mx.eval(model.parameters())
    schedule, total_steps = sgdr_schedule()
    opt = optim.SGD(learning_rate=schedule, momentum=0.9, weight_decay=1e-5)
    step_fn = nn.value_and_grad(model, gaussian_nll)

    ckpt_dir = tempfile.mkdtemp(prefix="bale_ckpt_")
    best_path = os.path.join(ckpt_dir, "best_balenet.npz")
    best_nll, best_step = float("inf"), -1
    restarts = set(np.cumsum(CYCLES)[:-1].tolist())

    step, epoch = 0, 0
    steps_per_epoch = N_TRAIN // BATCH
    while step < total_steps:
        perm = rng.permutation(N_TRAIN)
        losses = []
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            ids = mx.array(perm[b * BATCH : (b + 1) * BATCH])
            loss, grads = step_fn(model, xt[ids], yt[ids])
            grads, _ = optim.clip_grad_norm(grads, CLIP)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            losses.append(loss.item())
            step += 1
            if step in restarts:
                print(f"  -- warm restart at step {step}: lr back to {schedule(mx.array(step)).item():.3f}")
        epoch += 1
        nll, rmse, msd = evaluate(model, xv, yv)
        mark = ""
        if nll < best_nll:
            best_nll, best_step = nll, step
            mx.savez(best_path, **dict(tree_flatten(model.parameters())))
            mark = "  [saved]"
        if epoch % 3 == 0 or mark or step >= total_steps:
            print(
                f"epoch {epoch:3d} step {step:4d} lr {opt.learning_rate.item():.4f} "
                f"train_nll {np.mean(losses):+.4f} val_nll {nll:+.4f} "
                f"val_rmse {rmse * y_sd:.2f}% mean_sd {msd * y_sd:.2f}%{mark}"
            )

    last_nll, last_rmse, _ = evaluate(model, xv, yv)

    # reload the best weights into a brand-new network
    restored = BaleNet(xt.shape[1])
    restored.update(tree_unflatten(list(mx.load(best_path).items())))
    mx.eval(restored.parameters())
    r_nll, r_rmse, r_sd = evaluate(restored, xv, yv)
    print(f"best checkpoint from step {best_step}: val_nll {best_nll:+.4f}; reloaded copy scores {r_nll:+.4f}")
    print(f"last weights val_nll {last_nll:+.4f} rmse {last_rmse * y_sd:.2f}%")
    print(
        f"reloaded best: val_rmse {r_rmse * y_sd:.2f}% (baseline sd {float(np.std(y_va)):.2f}%), "
        f"mean predicted sd {r_sd * y_sd:.2f}% vs true mean sd {float(s_va.mean()):.2f}%"
    )
    print(f"NLL: baseline {base_nll:+.4f} | model {r_nll:+.4f} | oracle {oracle_nll:+.4f}")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    print(f"wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
