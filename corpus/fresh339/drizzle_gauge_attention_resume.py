"""Next-hour rain / no-rain at a rain gauge from the last 12 hourly readings.

A small attention encoder reads (rain rate, pressure tendency, humidity,
cloud cover, wind u, wind v) per hour. The run saves a checkpoint halfway,
rebuilds model and optimizer from the files and carries on.
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
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(11)
T, F = 12, 6


def simulate(n_days):
    hours = n_days * 24
    p = np.zeros(hours); h = np.zeros(hours); c = np.zeros(hours); r = np.zeros(hours)
    u = np.zeros(hours); v = np.zeros(hours)
    front = 0.0
    for t in range(1, hours):
        front = 0.93 * front + rng.normal(0, 0.35)
        p[t] = 0.9 * p[t - 1] - 0.4 * front + rng.normal(0, 0.3)
        h[t] = np.clip(0.8 * h[t - 1] + 0.2 * (0.6 + 0.15 * front) + rng.normal(0, 0.03), 0.2, 1.0)
        c[t] = np.clip(0.7 * c[t - 1] + 0.3 * (0.5 + 0.3 * front) + rng.normal(0, 0.08), 0, 1)
        u[t] = 0.9 * u[t - 1] + 0.3 * front + rng.normal(0, 0.4)
        v[t] = 0.9 * v[t - 1] + rng.normal(0, 0.4)
        wet = 2.2 * front + 3.0 * (h[t] - 0.7) + 1.5 * (c[t] - 0.5) - 0.6 * (p[t] - p[t - 1]) - 1.2
        r[t] = max(0.0, rng.gamma(1.5, 0.6)) if rng.random() < 1 / (1 + math.exp(-wet)) else 0.0
    feats = np.stack([np.log1p(r), p - np.roll(p, 3), h, c, u, v], 1).astype(np.float32)
    xs, ys = [], []
    for t in range(T, hours - 1):
        xs.append(feats[t - T:t]); ys.append(float(r[t] > 0.1))
    return np.array(xs), np.array(ys, dtype=np.float32)


Xtr, Ytr = simulate(300)
Xva, Yva = simulate(60)
mu = Xtr.reshape(-1, F).mean(0); sd = Xtr.reshape(-1, F).std(0) + 1e-6
Xtr = mx.array((Xtr - mu) / sd); Xva = mx.array((Xva - mu) / sd)
Ytr = mx.array(Ytr); Yva = mx.array(Yva)


class GaugeEncoder(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.inp = nn.Linear(F, d)
        self.pos = nn.Embedding(T, d)
        self.enc = nn.TransformerEncoder(num_layers=2, dims=d, num_heads=4, mlp_dims=64, dropout=0.0)
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        z = self.inp(x) + self.pos(mx.arange(T))
        z = self.enc(z, None)
        return self.out(z[:, -1])[:, 0]


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def scores(model):
    logit = model(Xva)
    prob = mx.sigmoid(logit)
    brier = ((prob - Yva) ** 2).mean().item()
    ce = nn.losses.binary_cross_entropy(logit, Yva, with_logits=True, reduction="mean").item()
    return ce, brier


SCHED = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, 340, 1e-4)], [60])


def build():
    model = GaugeEncoder()
    opt = optim.Adam(learning_rate=SCHED)
    return model, opt


def log(**kv):
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


base = float(Ytr.mean().item())
clim_brier = ((base - Yva) ** 2).mean().item()
log(event="data", train_windows=Xtr.shape[0], valid_windows=Xva.shape[0], wet_share_pct=f"{100 * base:.1f}",
    climatology_brier=f"{clim_brier:.4f}")

mx.random.seed(5)
model, opt = build()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
ACCUM, MICRO, TOTAL, SAVE_AT = 2, 32, 400, 200
ckpt_dir = tempfile.mkdtemp(prefix="gauge_ckpt_")
n = Xtr.shape[0]
t0 = time.time()
step = 0
while step < TOTAL:
    acc = None
    acc_loss = 0.0
    for _ in range(ACCUM):
        idx = mx.array(rng.integers(0, n, MICRO))
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        acc_loss += loss
    grads = tree_map(lambda a: a / ACCUM, acc)
    lr_used = SCHED(mx.array(step)).item()
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    step += 1
    if step == 1 or step % 50 == 0:
        ce, brier = scores(model)
        log(step=step, lr_used=f"{lr_used:.2e}", train_ce=f"{(acc_loss / ACCUM).item():.4f}", valid_ce=f"{ce:.4f}",
            valid_brier=f"{brier:.4f}", climatology_brier=f"{clim_brier:.4f}", secs=f"{time.time() - t0:.1f}")
    if step == SAVE_AT:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        log(event="checkpoint", step=step, dir=ckpt_dir)
        del model, opt, vg
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        vg = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        ce, brier = scores(model)
        log(event="resumed", step=opt.state["step"].item(), valid_ce=f"{ce:.4f}", valid_brier=f"{brier:.4f}")

ce, brier = scores(model)
log(event="done", steps=step, valid_ce=f"{ce:.4f}", valid_brier=f"{brier:.4f}", climatology_brier=f"{clim_brier:.4f}",
    brier_skill_pct=f"{100 * (1 - brier / clim_brier):.1f}", secs=f"{time.time() - t0:.1f}")
shutil.rmtree(ckpt_dir, ignore_errors=True)
