"""Public library footfall: hourly visitor counts, one-step MLP forecaster.

Trains in two sessions: session A saves weights + optimizer state to disk,
session B builds fresh objects, reloads both, and carries on.  Evaluation is an
autoregressive 24-hour rollout compared with a same-hour-last-week baseline.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

WIN = 48
HORIZON = 24
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_branch(n_days, scale):
    hours = np.arange(n_days * 24)
    hod = hours % 24
    dow = (hours // 24) % 7
    open_ = ((hod >= 9) & (hod < 20)) & (dow != 6)
    shape = np.exp(-0.5 * ((hod - 11) / 2.0) ** 2) + 0.8 * np.exp(-0.5 * ((hod - 16.5) / 1.8) ** 2)
    week = np.where(dow == 5, 1.35, 1.0)
    term = 1.0 + 0.25 * np.sin(2 * np.pi * hours / (24 * 61))
    lam = scale * shape * week * term * open_
    return rng.poisson(lam).astype(np.float32)


branches = [make_branch(140, s) for s in (40, 55, 70, 90, 120)]
train_x, train_y, stats = [], [], []
valid_series = []
for b in branches:
    cut = 112 * 24
    tr = b[:cut]
    valid_series.append(b[cut - WIN - 24 * 7:])
    for i in range(0, len(tr) - WIN - 1):
        w = tr[i:i + WIN]
        mu, sd = w.mean(), w.std() + 1.0
        train_x.append((w - mu) / sd)
        train_y.append((tr[i + WIN] - mu) / sd)
train_x = mx.array(np.stack(train_x))
train_y = mx.array(np.array(train_y, dtype=np.float32))


class Forecaster(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(WIN, d), nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.skip = nn.Linear(WIN, 1)
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        return (self.head(self.body(x)) + self.skip(x)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def rollout_mae(model):
    errs, base = [], []
    for s in valid_series:
        starts = list(range(24 * 7 + WIN, len(s) - HORIZON, 24))
        hist = np.stack([s[t - WIN:t] for t in starts])
        preds = []
        for _ in range(HORIZON):
            w = hist[:, -WIN:]
            mu, sd = w.mean(1, keepdims=True), w.std(1, keepdims=True) + 1.0
            z = np.array(model(mx.array((w - mu) / sd)))[:, None]
            nxt = np.maximum(0.0, z * sd + mu)
            preds.append(nxt)
            hist = np.concatenate([hist, nxt], axis=1)
        pred = np.concatenate(preds, axis=1)
        truth = np.stack([s[t:t + HORIZON] for t in starts])
        last_week = np.stack([s[t - 168:t - 168 + HORIZON] for t in starts])
        errs.append(np.abs(pred - truth).mean())
        base.append(np.abs(last_week - truth).mean())
    return float(np.mean(errs)), float(np.mean(base))


TOTAL = 900
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 100), optim.cosine_decay(2e-3, TOTAL - 100, 1e-4)], [100])


def build():
    m = Forecaster()
    mx.eval(m.parameters())
    o = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return m, o


def run_session(model, opt, first, last, t0):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = train_x.shape[0]
    for step in range(first, last + 1):
        idx = mx.array(rng.integers(0, n, size=128))
        lr_used = float(sched(opt.step)) if isinstance(opt.step, mx.array) else 0.0
        loss, grads = step_fn(model, train_x[idx], train_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 150 == 0:
            print(f"| step {step:4d} | lr {lr_used:.2e} | huber {loss.item():.4f} | {time.time() - t0:5.1f}s |")


t0 = time.time()
print(f"| windows {train_x.shape[0]} | branches {len(branches)} | window {WIN} h | horizon {HORIZON} h |")
model, opt = build()
mae, base = rollout_mae(model)
print(f"| untrained | rollout MAE {mae:.2f} visitors/h | last-week baseline {base:.2f} |")
run_session(model, opt, 1, 450, t0)
mae, base = rollout_mae(model)
print(f"| session A end | rollout MAE {mae:.2f} visitors/h | last-week baseline {base:.2f} |")

ckpt = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckpt, "weights.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt
print(f"| checkpoint | {ckpt} |")

model, opt = build()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"| resumed | optimizer step {int(opt.step.item())} |")
run_session(model, opt, 451, TOTAL, t0)
mae, base = rollout_mae(model)
print(f"| session B end | rollout MAE {mae:.2f} visitors/h | last-week baseline {base:.2f} |")
print(f"| done | {time.time() - t0:.1f}s |")
