"""Rose valley distillery: rose-oil yield (per mille of petal weight) of a still charge
from seven field readings.

The run is split into three parts. Without arguments this file acts as the
launcher: it starts one interpreter per part with subprocess, in order. Each
part restores the checkpoint and the CSV log the previous part left in the
work directory, trains one cycle of the learning-rate schedule, writes a new
checkpoint and appends its rows to the log. The launcher prints the log at the
end.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["rain_mm", "sun_hours", "nitrogen", "stem_length", "cut_day", "still_temp", "damask"]
BATCH = 96
WARM = 80
CYCLES = [520, 600, 600]          # one cosine cycle per part
PEAK = [2e-2, 1.2e-2, 6e-3]


def make_data(seed=11):
    rng = np.random.default_rng(seed)
    n = 9000
    rain = rng.gamma(4.0, 60.0, n)
    sun = rng.normal(1450, 180, n)
    nit = rng.uniform(40, 160, n)
    height = rng.normal(6.5, 0.8, n)
    pick = rng.integers(-12, 13, n).astype(np.float64)
    kiln = rng.normal(62, 4, n)
    varb = (rng.random(n) < 0.4).astype(np.float64)
    alpha = (9.0 + 0.0022 * (sun - 1450) - 0.004 * (rain - 240) + 0.012 * (nit - 100)
             - 0.0003 * (nit - 100) ** 2 + 0.6 * (height - 6.5) - 0.012 * pick ** 2
             - 0.08 * np.maximum(kiln - 64, 0) ** 2 + 2.4 * varb)
    alpha = alpha + rng.normal(0, 0.45, n)
    X = np.stack([rain, sun, nit, height, pick, kiln, varb], 1)
    mu, sd = X[:7000].mean(0), X[:7000].std(0)
    X = ((X - mu) / sd).astype(np.float32)
    return X[:7000], alpha[:7000].astype(np.float32), X[7000:], alpha[7000:].astype(np.float32)


class AlphaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + 9.0


def schedule():
    bounds, parts = [WARM], [optim.linear_schedule(0.0, PEAK[0], WARM)]
    edge = WARM
    for i, (c, p) in enumerate(zip(CYCLES, PEAK)):
        length = c - WARM if i == 0 else c
        parts.append(optim.cosine_decay(p, length, 1e-4))
        edge += length
        bounds.append(edge)
    return optim.join_schedules(parts, bounds[:-1])


def run_part(k, workdir):
    Xtr, ytr, Xva, yva = make_data()
    ckpt_w = os.path.join(workdir, "alpha_net.safetensors")
    ckpt_o = os.path.join(workdir, "sgd_state.safetensors")
    log_path = os.path.join(workdir, "log.csv")
    tag = f"[part {k} pid {os.getpid()}]"

    mx.random.seed(100 + k)
    model = AlphaNet()
    opt = optim.SGD(learning_rate=schedule(), momentum=0.9, nesterov=True)
    if k == 1:
        start = 0
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(["part", "step", "lr", "train_mse", "val_rmse"])
    else:
        model.load_weights(ckpt_w)
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(ckpt_o).items()))
        with open(log_path) as f:
            rows = list(csv.DictReader(f))
        start = int(rows[-1]["step"])
        prev = float(rows[-1]["val_rmse"])
        now = float(mx.sqrt(nn.losses.mse_loss(model(mx.array(Xva)), mx.array(yva))).item())
        print(f"{tag} log has {len(rows)} rows, last step {start}, val_rmse {prev:.4f}; restored model gives {now:.4f}; optimizer step {int(opt.state['step'].item())}", flush=True)
    mx.eval(model.parameters(), opt.state)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    vg = nn.value_and_grad(model, loss_fn)
    stop = start + (CYCLES[k - 1])
    rng = np.random.default_rng(500 + k)
    Xv, yv = mx.array(Xva), mx.array(yva)
    window, rows_out, t0, step = [], [], time.time(), start
    base = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
    if k == 1:
        print(f"{tag} {len(ytr)} train / {len(yva)} val charges, predict-the-mean val_rmse {base:.3f} per mille, noise sd 0.45", flush=True)
    while step < stop:
        perm = rng.permutation(len(ytr))
        for i in range(0, len(perm) - BATCH + 1, BATCH):
            if step >= stop:
                break
            idx = mx.array(perm[i:i + BATCH])
            loss, g = vg(model, mx.array(Xtr)[idx], mx.array(ytr)[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            window.append(loss.item())
            if step % 100 == 0 or step == stop or step == 1:
                v = float(mx.sqrt(nn.losses.mse_loss(model(Xv), yv)).item())
                tr = float(np.mean(window))
                window = []
                lr_now = float(opt.learning_rate.item())
                rows_out.append([k, step, f"{lr_now:.6f}", f"{tr:.5f}", f"{v:.5f}"])
                print(f"{tag} step {step:5d} lr {lr_now:.5f} train_mse {tr:8.4f} val_rmse {v:.4f} ({time.time() - t0:.1f}s)", flush=True)
    model.save_weights(ckpt_w)
    mx.save_safetensors(ckpt_o, dict(tree_flatten(opt.state)))
    with open(log_path, "a", newline="") as f:
        csv.writer(f).writerows(rows_out)
    print(f"{tag} wrote checkpoint at step {step}", flush=True)


def launcher():
    with tempfile.TemporaryDirectory() as workdir:
        print(f"launcher pid {os.getpid()}, work dir {workdir}", flush=True)
        for k in (1, 2, 3):
            t = time.time()
            r = subprocess.run([sys.executable, __file__, "--part", str(k), workdir])
            print(f"launcher: part {k} returned {r.returncode} after {time.time() - t:.1f}s", flush=True)
            if r.returncode != 0:
                sys.exit(r.returncode)
        with open(os.path.join(workdir, "log.csv")) as f:
            rows = list(csv.DictReader(f))
        print("launcher: summary of log.csv (last row of each part)")
        for k in ("1", "2", "3"):
            last = [r for r in rows if r["part"] == k][-1]
            print(f"  part {k}: step {last['step']:>5} train_mse {float(last['train_mse']):.4f} val_rmse {float(last['val_rmse']):.4f}")
        print("launcher: done")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--part":
        run_part(int(sys.argv[2]), sys.argv[3])
    else:
        launcher()
