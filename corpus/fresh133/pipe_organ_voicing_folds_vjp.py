"""Pipe-organ voicing notebook: predict how far (in cents) a flue pipe speaks
off its nominal pitch from bench measurements, with 4-fold cross-validation.

Uses a hand-rolled smooth activation with its own backward (mx.custom_function)
and a compiled AdamW step.  Early stopping keeps the best weights per fold.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s voicing: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("voicing")

rng = np.random.default_rng(1713)
N = 3200
# bench readings: scale (log length ratio), mouth width ratio, cut-up ratio,
# toe-hole mm, wind pressure (mm water), room temp (C), nicking count, languid height
length = rng.uniform(-1.0, 1.0, N)
mouth = rng.uniform(0.18, 0.30, N)
cutup = rng.uniform(0.20, 0.40, N)
toe = rng.uniform(3.0, 9.0, N)
wind = rng.normal(75.0, 8.0, N)
temp = rng.normal(18.0, 4.0, N)
nicks = rng.integers(0, 14, N).astype(np.float64)
languid = rng.normal(0.0, 1.0, N)
cents = (3.0 * (temp - 18.0) / 4.0
         + 9.0 * np.tanh((wind - 75.0) / 10.0) * (1.0 + 0.4 * length)
         - 40.0 * (cutup - 0.30)
         + 1.8 * (toe - 6.0)
         + 6.0 * np.sin(3.0 * languid)
         - 0.25 * nicks
         + 25.0 * (mouth - 0.24) * length
         + rng.normal(0.0, 1.5, N))
X = np.stack([length, mouth, cutup, toe, wind, temp, nicks, languid], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = cents.astype(np.float32)


@mx.custom_function
def softknee(x):
    # x / (1 + |x|) blended with a linear leak
    return x / (1.0 + mx.abs(x)) + 0.1 * x


@softknee.vjp
def softknee_vjp(primals, cotangent, output):
    x = primals
    d = 1.0 / mx.square(1.0 + mx.abs(x)) + 0.1
    return cotangent * d


class Voicer(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = softknee(self.l1(x))
        h = softknee(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean(mx.square(model(xb) - yb))


# check the hand-written backward against finite differences once
xs = mx.array(np.linspace(-3, 3, 7).astype(np.float32))
g_custom = mx.grad(lambda t: softknee(t).sum())(xs)
eps = 1e-3
g_fd = (xs + eps) / (1 + mx.abs(xs + eps)) + 0.1 * (xs + eps) - ((xs - eps) / (1 + mx.abs(xs - eps)) + 0.1 * (xs - eps))
g_fd = g_fd / (2 * eps)
log.info("vjp audit: max |custom - finite diff| = %.2e", mx.max(mx.abs(g_custom - g_fd)).item())

folds = np.array_split(rng.permutation(N), 4)
BATCH = 128
MAX_EPOCHS = 40
PATIENCE = 6
summary = []
t0 = time.time()

for k, val_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[val_idx]), mx.array(y[val_idx])
    base_mae = float(np.mean(np.abs(y[val_idx] - y[tr_idx].mean())))
    var_va = float(np.var(y[val_idx]))

    mx.random.seed(100 + k)
    model = Voicer()
    steps_per_epoch = math.ceil(len(tr_idx) / BATCH)
    sched = optim.cosine_decay(3e-3, MAX_EPOCHS * steps_per_epoch, 1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    lvg = nn.value_and_grad(model, mse)

    if k == 0:
        _, g0 = lvg(model, Xtr[:BATCH], ytr[:BATCH])
        zero = [n for n, g in tree_flatten(g0) if mx.all(g == 0).item()]
        log.info("gradient audit: %d tensors, all-zero: %s", len(tree_flatten(g0)), zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = lvg(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, bad = float("inf"), -1, None, 0
    log.info("fold %d/4 start: train %d / valid %d, mean-predictor MAE %.2f cents", k + 1, len(tr_idx), len(val_idx), base_mae)
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for i in range(steps_per_epoch):
            b = perm[i * BATCH:(i + 1) * BATCH]
            loss = step(Xtr[b], ytr[b])
            mx.eval(state, loss)
            tot += loss.item() * b.shape[0]
        pred = model(Xva)
        vmse = mx.mean(mx.square(pred - yva)).item()
        vmae = mx.mean(mx.abs(pred - yva)).item()
        r2 = 1.0 - vmse / var_va
        if ep == 1 or ep % 5 == 0:
            log.info("fold %d ep %02d  train %.3f  valid %.3f  mae %.2f c  R2 %.3f", k + 1, ep, tot / len(tr_idx), vmse, vmae, r2)
        if vmse < best - 1e-3:
            best, best_ep, bad = vmse, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                log.info("fold %d stop at ep %d (no gain for %d epochs)", k + 1, ep, PATIENCE)
                break
    model.update(best_w)
    pred = model(Xva)
    vmae = mx.mean(mx.abs(pred - yva)).item()
    r2 = 1.0 - mx.mean(mx.square(pred - yva)).item() / var_va
    log.info("fold %d restored ep %d: mae %.2f c (baseline %.2f c), R2 %.3f", k + 1, best_ep, vmae, base_mae, r2)
    summary.append((k + 1, best_ep, vmae, base_mae, r2))

print("\nfold  best_ep  mae_cents  baseline  R2")
for f, e, m, b, r in summary:
    print(f"{f:>4}  {e:>7}  {m:>9.2f}  {b:>8.2f}  {r:.3f}")
arr = np.array([s[2] for s in summary])
print(f"cv mae {arr.mean():.2f} +- {arr.std():.2f} cents over 4 folds; {time.time() - t0:.1f}s")
