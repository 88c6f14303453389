"""Map revision survey: GPS-vs-sheet road offset (metres) with a per-point spread.

Synthetic survey points (sheet age, scale, terrain slope, canopy, road class, GNSS
satellites). A small MLP predicts a mean and a log-std; the objective is the Gaussian
negative log-likelihood, which goes below zero once the spread is learned. The run is
cut in two sessions: session 1 trains, writes a checkpoint (weights, optimizer state,
epoch, best value, patience counter) and ends; session 2 builds fresh objects, loads
the checkpoint and continues until validation NLL (lower is better) stops improving.
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

rng = np.random.default_rng(11)


def make_split(n):
    age = rng.uniform(0, 40, n)
    scale = rng.choice([10.0, 25.0, 50.0], n)
    slope = rng.gamma(2.0, 4.0, n)
    canopy = rng.uniform(0, 1, n)
    road = rng.integers(0, 3, n).astype(np.float64)
    sats = rng.integers(4, 14, n).astype(np.float64)
    mean = 0.08 * age + 0.06 * scale + 0.15 * slope * (road == 2) - 0.4 * road + 1.0
    log_sd = -2.4 + 1.3 * canopy + 0.03 * slope - 0.08 * (sats - 8)
    y = mean + np.exp(log_sd) * rng.standard_normal(n)
    x = np.stack([age, np.log(scale), slope, canopy, road, sats], 1).astype(np.float32)
    return x, y.astype(np.float32)


xtr, ytr = make_split(6000)
xva, yva = make_split(1500)
xte, yte = make_split(3000)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
ym, ys = float(ytr.mean()), float(ytr.std())
xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]
ytr, yva, yte = [(a - ym) / ys for a in (ytr, yva, yte)]
xtr, ytr, xva, yva, xte, yte = map(mx.array, (xtr, ytr, xva, yva, xte, yte))

# constant-Gaussian baseline on standardised targets: NLL = 0.5*log(2*pi*var) + 0.5
base_nll = 0.5 * math.log(2 * math.pi * float(mx.var(ytr).item())) + 0.5
print(f"constant-Gaussian baseline NLL (standardised units): {base_nll:.4f}")


class OffsetNet(nn.Module):
    def __init__(self, d_in=6, h=96):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mean = nn.Linear(h, 1)
        self.log_sd = nn.Linear(h, 1)

    def __call__(self, x):
        z = self.body(x)
        return self.mean(z).squeeze(-1), mx.clip(self.log_sd(z).squeeze(-1), -5.0, 3.0)


def nll(model, x, y):
    m, ls = model(x)
    return mx.mean(ls + 0.5 * ((y - m) / mx.exp(ls)) ** 2 + 0.5 * math.log(2 * math.pi))


def val_metrics(model, x, y):
    m, ls = model(x)
    v = nll(model, x, y)
    rmse_m = mx.sqrt(mx.mean((m - y) ** 2)) * ys
    mx.eval(v, rmse_m)
    return v.item(), rmse_m.item()


BATCH, MAX_EPOCHS, SESSION1_EPOCHS = 128, 70, 12
spe = (xtr.shape[0] + BATCH - 1) // BATCH
WARM = 2 * spe
PATIENCE, MIN_DELTA = 10, 5e-4


def build():
    model = OffsetNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM),
         optim.cosine_decay(2e-3, MAX_EPOCHS * spe - WARM, 2e-5)], [WARM])
    return model, optim.Adam(learning_rate=sched)


def run_epochs(model, opt, start, stop, best, waited, best_path):
    step = nn.value_and_grad(model, nll)
    for epoch in range(start, stop + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot = 0.0
        for i in range(0, xtr.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        v, r = val_metrics(model, xva, yva)
        better = v < best - MIN_DELTA
        if better:
            best, waited = v, 0
            model.save_weights(best_path)
        else:
            waited += 1
        if better or epoch % 4 == 0:
            print(f"epoch {epoch:2d}{'*' if better else ' '} train_nll {tot / xtr.shape[0]:+.4f}  "
                  f"val_nll {v:+.4f} (baseline {base_nll:+.4f})  val_rmse_m {r:.3f}  "
                  f"lr {opt.learning_rate.item():.2e}  wait {waited}/{PATIENCE}")
        if waited >= PATIENCE:
            print(f"stopping at epoch {epoch}: best val_nll {best:+.4f}")
            return epoch, best, waited, True
    return stop, best, waited, False


ckdir = tempfile.mkdtemp()
best_path = os.path.join(ckdir, "best.safetensors")
t0 = time.time()

# ---- session 1 ----
mx.random.seed(3)
model, opt = build()
mx.eval(model.parameters())
print("session 1")
ep, best, waited, stopped = run_epochs(model, opt, 1, SESSION1_EPOCHS, float("inf"), 0, best_path)
model.save_weights(os.path.join(ckdir, "last.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": ep, "best": best, "waited": waited}, f)
print(f"checkpoint written after epoch {ep}, optimizer step {opt.step.item()}")
del model, opt

# ---- session 2 (fresh objects) ----
print("session 2")
model, opt = build()
model.load_weights(os.path.join(ckdir, "last.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    meta = json.load(f)
mx.eval(model.parameters(), opt.state)
v, _ = val_metrics(model, xva, yva)
print(f"resumed at epoch {meta['epoch']}, step {opt.step.item()}, lr {opt.learning_rate.item():.2e}, "
      f"val_nll {v:+.4f}, best so far {meta['best']:+.4f}, wait {meta['waited']}")
if not stopped:
    ep, best, waited, stopped = run_epochs(model, opt, meta["epoch"] + 1, MAX_EPOCHS,
                                           meta["best"], meta["waited"], best_path)

model.load_weights(best_path)
mx.eval(model.parameters())
tn, tr = val_metrics(model, xte, yte)
print(f"test with best weights: nll {tn:+.4f} (baseline {base_nll:+.4f}), rmse {tr:.3f} m "
      f"(target sd {ys:.3f} m)")
print(f"done in {time.time() - t0:.1f}s")
shutil.rmtree(ckdir, ignore_errors=True)
