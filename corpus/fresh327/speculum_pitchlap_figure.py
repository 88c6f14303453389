"""Telescope-mirror figuring: residual surface error after a pitch-lap session.

Synthetic shop records: starting RMS error (nm), stroke length (fraction of
diameter), lap hardness, session minutes, cerium-oxide slurry concentration,
room temperature, mirror diameter. Target: log residual RMS (nm), with noise
that grows for long strokes on soft laps. A heteroscedastic Gaussian head
(mean + log-variance) is trained with the full Gaussian negative log
likelihood, so the loss goes below zero once the noise is modelled.

Schedule: warm restarts (cycles of 4, 6, 8 epochs), a snapshot of the weights
at the end of each cycle, a running average of the snapshots, a checkpoint
written to disk in the middle of the run and training resumed from it in a
freshly built model + optimizer. At the end the candidate (last snapshot or
snapshot average) with the lower validation NLL is kept.
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
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(11)
LOG2PI = math.log(2 * math.pi)


def shop_records(n):
    start = rng.uniform(40.0, 600.0, n)
    stroke = rng.uniform(0.1, 0.5, n)
    hard = rng.uniform(0.0, 1.0, n)
    minutes = rng.uniform(5.0, 90.0, n)
    slurry = rng.uniform(0.02, 0.2, n)
    temp = rng.uniform(14.0, 26.0, n)
    diam = rng.uniform(150.0, 400.0, n)
    rate = 0.018 * (0.4 + hard) * np.sqrt(slurry / 0.1) * (1.0 + 0.02 * (temp - 20.0))
    rate *= 200.0 / diam
    resid = 12.0 + (start - 12.0) * np.exp(-rate * minutes) + 30.0 * (stroke - 0.25) ** 2 * 100
    sig = 0.03 + 0.25 * stroke * (1.1 - hard)
    y = np.log(resid) + rng.normal(0.0, 1.0, n) * sig
    X = np.stack([np.log(start), stroke, hard, minutes, slurry, temp, diam], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = shop_records(5000)
Xva, yva = shop_records(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_m = mx.array((yva - ymu) / ysd)


class FigureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 4.0)


def nll(m, x, y):
    mean, lv = m(x)
    return mx.mean(0.5 * (lv + (y - mean) ** 2 * mx.exp(-lv) + LOG2PI))


def evaluate(m):
    mean, lv = m(Xva_m)
    v_nll = nll(m, Xva_m, yva_m).item()
    pred_nm = np.exp(np.array(mean) * ysd + ymu)
    true_nm = np.exp(yva)
    mae_nm = float(np.mean(np.abs(pred_nm - true_nm)))
    z = (np.array(yva_m) - np.array(mean)) / np.exp(0.5 * np.array(lv))
    cover = float(np.mean(np.abs(z) < 1.96)) * 100
    return v_nll, mae_nm, cover


CYCLES = [4, 6, 8]
BATCH = 50
PEAK, FLOOR = 2e-3, 2e-5
steps_per_epoch = len(Xtr) // BATCH
ckpt_dir = tempfile.mkdtemp(None, "figuring_", os.path.dirname(os.path.abspath(__file__)))
CKPT_AFTER_EPOCH = 7


def build():
    m = FigureNet()
    o = optim.Adam(learning_rate=PEAK, betas=[0.9, 0.98])
    return m, o


mx.random.seed(5)
model, opt = build()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, nll)

base = -float(np.mean(-0.5 * (np.log(2 * np.pi * 1.0) + np.array(yva_m) ** 2)))
print(f"records: {len(Xtr)} train / {len(Xva)} valid, target log RMS mean {ymu:.3f} sd {ysd:.3f}")
print(f"reference: unit-Gaussian NLL on standardised target = {base:.3f}, "
      f"mean-only MAE {float(np.mean(np.abs(np.exp(yva) - np.exp(ymu)))):.1f} nm")

snap_avg, n_snaps, last_snap = None, 0, None
epoch_global = 0
t0 = time.time()
for c, length in enumerate(CYCLES):
    cyc_steps = length * steps_per_epoch
    for e in range(length):
        epoch_global += 1
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for i in range(steps_per_epoch):
            k = e * steps_per_epoch + i
            opt.learning_rate = FLOOR + 0.5 * (PEAK - FLOOR) * (1 + math.cos(math.pi * k / cyc_steps))
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            loss, grads = grad_fn(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()

        if epoch_global == CKPT_AFTER_EPOCH:
            wpath = os.path.join(ckpt_dir, "weights.safetensors")
            spath = os.path.join(ckpt_dir, "opt.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
            before = evaluate(model)[0]
            del model, opt, grad_fn
            model, opt = build()
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(spath).items()))
            grad_fn = nn.value_and_grad(model, nll)
            after = evaluate(model)[0]
            print(f"  checkpoint after epoch {epoch_global} -> {ckpt_dir}; "
                  f"rebuilt and resumed (valid NLL {before:.4f} -> {after:.4f})")

    v_nll, mae_nm, cover = evaluate(model)
    print(f"cycle {c + 1} ({length} ep, ends epoch {epoch_global:2d})  train NLL {tot / steps_per_epoch:+.4f}  "
          f"valid NLL {v_nll:+.4f}  MAE {mae_nm:.2f} nm  95% cover {cover:.1f}%")

    snap = tree_map(lambda p: mx.array(p), model.parameters())
    last_snap = snap
    if snap_avg is None:
        snap_avg = snap
    else:
        snap_avg = tree_map(lambda a, s: a * (n_snaps / (n_snaps + 1)) + s / (n_snaps + 1), snap_avg, snap)
    n_snaps += 1
    mx.eval(snap_avg)

model.update(snap_avg)
avg_res = evaluate(model)
model.update(last_snap)
last_res = evaluate(model)
print(f"snapshot average of {n_snaps}: valid NLL {avg_res[0]:+.4f}  MAE {avg_res[1]:.2f} nm")
print(f"last snapshot:          valid NLL {last_res[0]:+.4f}  MAE {last_res[1]:.2f} nm")
if avg_res[0] < last_res[0]:
    model.update(snap_avg)
    print("keeping the snapshot average")
else:
    print("keeping the last snapshot")
final = evaluate(model)
shutil.rmtree(ckpt_dir)
print(f"final: valid NLL {final[0]:+.4f}  MAE {final[1]:.2f} nm  95% cover {final[2]:.1f}%  "
      f"time {time.time() - t0:.1f}s")
