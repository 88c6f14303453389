"""Predict hard-drive failure within the next week from 14 days of SMART counters.

Synthetic fleet: healthy drives have flat, noisy counters; failing drives show
growing reallocated / pending sectors and rising seek errors towards the end
of the window (onset varies, and some failing drives show almost nothing).
Model: masked temporal conv (Conv1d, NLC) + last-step and max pooling, focal
loss (hand written), RMSprop, compiled train step.  Output mimics a Nagios
check plugin, one status line with perfdata per epoch.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
DAYS, FEAT = 14, 6


def make_fleet(n, fail_rate=0.08):
    y = (rng.random(n) < fail_rate).astype(np.float32)
    t = np.arange(DAYS, dtype=np.float32)[None, :]
    age = rng.uniform(0.5, 6.0, (n, 1))
    temp = 34 + 5 * rng.standard_normal((n, 1)) + 2 * np.sin(t / 2 + rng.random((n, 1)) * 6)
    realloc = np.repeat(rng.poisson(0.6, (n, 1)), DAYS, axis=1).astype(np.float32)
    realloc += rng.poisson(0.04, (n, DAYS)).cumsum(1)       # healthy drives remap a few too
    pending = rng.poisson(0.15, (n, DAYS)).astype(np.float32)
    seek = rng.normal(0.0, 1.0, (n, DAYS))
    crc = rng.poisson(0.05, (n, DAYS)).cumsum(1)
    # failing drives: onset somewhere in the window, strength often weak
    strength = rng.uniform(0.0, 0.6, (n, 1)) ** 1.5 * y[:, None]
    onset = rng.integers(3, DAYS - 1, (n, 1))
    ramp = np.clip(t - onset, 0, None)
    realloc += np.floor(strength * 3.0 * ramp ** 1.3 + rng.poisson(0.2, (n, DAYS)) * (strength > 0))
    pending += np.floor(strength * 2.0 * ramp)
    seek += strength * 1.5 * ramp
    temp += strength * 2.0
    x = np.stack([np.log1p(np.maximum.accumulate(realloc, axis=1)), np.log1p(pending),
                  seek / 3.0, (temp - 35.0) / 6.0, np.log1p(crc),
                  np.repeat(age / 6.0, DAYS, axis=1)], axis=-1)
    return x.astype(np.float32), y


Xtr, ytr = make_fleet(4000)
Xva, yva = make_fleet(1500)


class FailPred(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(FEAT, 32, kernel_size=3, padding=1)
        self.c2 = nn.Conv1d(32, 32, kernel_size=3, padding=2, dilation=2)
        self.out = nn.Sequential(nn.Linear(64 + FEAT, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h)) + h
        pooled = mx.concatenate([h[:, -1, :], mx.max(h, axis=1), x[:, -1, :] - x[:, 0, :]], axis=-1)
        return self.out(pooled).squeeze(-1)


def focal_loss(logits, y, alpha=0.75, gamma=2.0):
    p = mx.sigmoid(logits)
    ce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="none")
    p_t = y * p + (1 - y) * (1 - p)
    a_t = y * alpha + (1 - y) * (1 - alpha)
    return mx.mean(a_t * (1 - p_t) ** gamma * ce)


def average_precision(scores, labels):
    order = np.argsort(-scores)
    l = labels[order]
    tp = np.cumsum(l)
    prec = tp / np.arange(1, len(l) + 1)
    return float(np.sum(prec * l) / max(l.sum(), 1))


def recall_at_fpr(scores, labels, fpr=0.01):
    thr = np.quantile(scores[labels == 0], 1 - fpr)
    return float(np.mean(scores[labels == 1] > thr))


model = FailPred()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.9)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: focal_loss(m(x), y))

g_leaves = tree_flatten(loss_and_grad(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))[1])
n_zero = sum(1 for _, g in g_leaves if not bool(mx.any(g != 0)))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


print(f"DISK-FAILPRED UNKNOWN - fleet train={len(ytr)} (fail {ytr.mean():.1%}) "
      f"valid={len(yva)} (fail {yva.mean():.1%}); grad leaves={len(g_leaves)} zero={n_zero}")
base_ap = average_precision(Xva[:, -1, 0] + Xva[:, -1, 1], yva)
print(f"DISK-FAILPRED UNKNOWN - rule baseline (realloc+pending on last day) | ap={base_ap:.3f}")

BS, EPOCHS = 64, 14
xv = mx.array(Xva)
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    if epoch == 9:
        opt.learning_rate = 5e-4
    order = rng.permutation(len(ytr))
    run, nb = 0.0, 0
    for s in range(0, len(order) - BS + 1, BS):
        idx = order[s:s + BS]
        loss = train_step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
        mx.eval(state, loss)
        run += loss.item()
        nb += 1
    vlog = model(xv)
    vloss = focal_loss(vlog, mx.array(yva)).item()
    scores = np.array(mx.sigmoid(vlog))
    ap = average_precision(scores, yva)
    rec = recall_at_fpr(scores, yva)
    status = "OK" if ap >= 0.6 else ("WARNING" if ap >= 0.4 else "CRITICAL")
    print(f"DISK-FAILPRED {status} - epoch {epoch}/{EPOCHS} valid AP {ap:.3f} | "
          f"train_focal={run / nb:.5f} valid_focal={vloss:.5f} ap={ap:.3f};0.6;0.4;0;1 "
          f"recall_at_1pct_fpr={rec:.3f} lr={float(opt.learning_rate):.0e} t={time.time() - t0:.1f}s")
