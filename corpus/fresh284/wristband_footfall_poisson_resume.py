# Step counting from synthetic wrist-accelerometer windows with a Poisson
# log-rate head. Trained in two sessions: the second one starts from a saved
# checkpoint (weights incl. BatchNorm running stats + optimizer state).
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

W = 64                      # samples per window (50 Hz -> 1.28 s)
rng = np.random.default_rng(2840)


def windows(n):
    X = np.zeros((n, W), dtype=np.float32)
    y = np.zeros(n, dtype=np.float32)
    t = np.arange(W)
    for i in range(n):
        cadence = rng.choice([0.0, rng.uniform(0.02, 0.16)], p=[0.15, 0.85])
        phase = rng.uniform(0, 1)
        k = 0
        sig = np.zeros(W)
        pos = (phase / max(cadence, 1e-6)) if cadence > 0 else W + 1
        while pos < W:
            sig += rng.uniform(0.7, 1.3) * np.exp(-0.5 * ((t - pos) / 1.6) ** 2)
            k += 1
            pos += (1.0 / cadence) * rng.uniform(0.9, 1.1)
        drift = rng.normal(0, 0.3) + rng.normal(0, 0.1) * t / W
        X[i] = 1.0 + drift + sig + rng.normal(0, 0.12, W)
        y[i] = k
    return X, y


Xtr, ytr = windows(4000)
Xva, yva = windows(800)
print(f"windows: train={len(Xtr)} val={len(Xva)} steps/window mean={ytr.mean():.2f} max={int(ytr.max())}")

# references on the validation windows
mean_mae = float(np.abs(np.round(ytr.mean()) - yva).mean())


def crossings(x):
    z = x - np.median(x)
    up = (z[1:] > 0.45) & (z[:-1] <= 0.45)
    return up.sum()


heur_mae = float(np.abs(np.array([crossings(x) for x in Xva]) - yva).mean())
ylogy = np.where(yva > 0, yva * np.log(np.maximum(yva, 1e-9)), 0.0)
floor = float(np.mean(yva - ylogy))
print(f"reference: mean-count MAE={mean_mae:.3f} crossing-count MAE={heur_mae:.3f} "
      f"saturated Poisson NLL={floor:.3f}")


class FootfallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(W, 64)
        self.bn = nn.BatchNorm(64)
        self.fc2 = nn.Linear(64, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.relu(self.bn(self.fc1(x)))
        h = nn.relu(self.fc2(h))
        return self.out(h).squeeze(-1)          # log-rate


def poisson_nll(model, x, y):
    r = model(x)
    return mx.mean(mx.exp(r) - y * r)


def evaluate(model, x, y):
    was = model.training
    model.eval()
    r = model(x)
    nll = mx.mean(mx.exp(r) - y * r)
    mae = mx.mean(mx.abs(mx.round(mx.exp(r)) - y))
    mx.eval(nll, mae)
    model.train(was)
    return nll.item(), mae.item()


def build():
    model = FootfallNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, 950, 1e-4)], [50])
    return model, optim.Adam(learning_rate=sched), sched


xtr, ytr_m = mx.array(Xtr), mx.array(ytr)
xva, yva_m = mx.array(Xva), mx.array(yva)
BS, EPOCHS, SPLIT = 32, 8, 4
steps_per_epoch = len(Xtr) // BS

mx.random.seed(2840)
model, opt, sched = build()
mx.eval(model.parameters())
ckdir = tempfile.mkdtemp(prefix="footfall_")


def run_epochs(model, opt, first, last, step):
    lg = nn.value_and_grad(model, poisson_nll)
    model.train()
    for ep in range(first, last + 1):
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * BS : (b + 1) * BS])
            loss, g = lg(model, xtr[idx], ytr_m[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        vn, vm = evaluate(model, xva, yva_m)
        print(f"epoch {ep}/{EPOCHS} step {step} lr {sched(step).item():.2e} "
              f"train_nll {tot / steps_per_epoch:+.4f} val_nll {vn:+.4f} (floor {floor:+.4f}) "
              f"val_MAE {vm:.3f} steps [mean-count {mean_mae:.3f}, crossings {heur_mae:.3f}]")
    return step


t0 = time.time()
print(f"session 1 | lr at step 0 = {sched(0).item():.2e}")
step = run_epochs(model, opt, 1, SPLIT, 0)
before = evaluate(model, xva, yva_m)
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": SPLIT, "step": step}, f)
del model, opt

model, opt, sched = build()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
meta = json.load(open(os.path.join(ckdir, "meta.json")))
after = evaluate(model, xva, yva_m)
print(f"session 2 | resumed epoch {meta['epoch']} step {meta['step']} opt_step {int(opt.state['step'].item())} "
      f"val_nll before/after {before[0]:+.5f}/{after[0]:+.5f} "
      f"bn_running_mean_abs {float(mx.abs(model.bn.running_mean).mean().item()):.4f}")
step = run_epochs(model, opt, SPLIT + 1, EPOCHS, meta["step"])
vn, vm = evaluate(model, xva, yva_m)
print(f"done {time.time() - t0:.1f}s: val_nll={vn:+.4f} val_MAE={vm:.3f} "
      f"crossings_MAE={heur_mae:.3f} mean_MAE={mean_mae:.3f} floor={floor:+.4f}")
shutil.rmtree(ckdir)
