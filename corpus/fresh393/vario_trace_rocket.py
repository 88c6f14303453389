"""Paragliding flight logs: classify 128-sample variometer traces (climb rate, m/s)
as thermal / ridge lift / sink / rotor turbulence.

A bank of random dilated convolution kernels (never trained, frozen on purpose)
turns each trace into max and proportion-of-positive features; a linear softmax
readout is trained on top with Nesterov SGD and a step decay.  Training is quiet;
the history table is printed at the end beside simple reference rows.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3940)
mx.random.seed(3940)
CLASSES = ["thermal", "ridge", "sink", "rotor"]
L = 128


def traces(n):
    y = rng.integers(0, 4, n)
    t = np.arange(L)[None, :] * 0.5
    base = rng.normal(0, 0.35, (n, L)).cumsum(1) * 0.08 + rng.normal(0, 0.45, (n, L))
    x = np.zeros((n, L))
    amp = rng.uniform(0.2, 1.6, n)[:, None]
    period = rng.uniform(14, 26, n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    x += (y == 0)[:, None] * (0.9 + amp * np.sin(2 * np.pi * t / period + phase))
    x += (y == 1)[:, None] * (0.7 + 0.25 * np.sin(2 * np.pi * t / 60 + phase))
    x += (y == 2)[:, None] * (-0.9 - 0.3 * amp + 0.2 * np.sin(2 * np.pi * t / 45 + phase))
    bursts = rng.normal(0, 1.0, (n, L)) * (rng.uniform(0, 1, (n, L)) < 0.25)
    x += (y == 3)[:, None] * (0.2 * amp + 2.0 * bursts)
    x += base - 0.1
    return x.astype(np.float32), y.astype(np.int32)


Xtr, ytr = traces(3000)
Xva, yva = traces(800)
Xte, yte = traces(1200)


class DilatedBank(nn.Module):
    """One dilation: taps gathered at offsets j*d, then a (k -> n_kernels) projection."""

    def __init__(self, n_kernels, k, d):
        super().__init__()
        w = rng.normal(0, 1, (k, n_kernels))
        self.weight = mx.array((w - w.mean(0, keepdims=True)).astype(np.float32))
        self.bias = mx.array(rng.uniform(-1, 1, (n_kernels,)).astype(np.float32))
        self.offsets = mx.array(np.arange(L)[:, None] + d * np.arange(k)[None, :])
        self.pad = (k - 1) * d // 2

    def __call__(self, x):
        xp = mx.pad(x, [(0, 0), (self.pad, self.pad)])
        taps = xp[:, self.offsets]                       # (N, L, k)
        return taps @ self.weight + self.bias            # (N, L, n_kernels)


class RandomKernels(nn.Module):
    def __init__(self, per_dilation=48, dilations=(1, 2, 4, 8), k=9):
        super().__init__()
        self.convs = [DilatedBank(per_dilation, k, d) for d in dilations]

    def __call__(self, x):
        feats = []
        for c in self.convs:
            z = c(x)
            feats += [z.max(axis=1), (z > 0).astype(mx.float32).mean(axis=1)]
        return mx.concatenate(feats, axis=1)


class VarioClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.kernels = RandomKernels()
        self.kernels.freeze()
        self.head = nn.Linear(2 * 48 * 4, 4)
        self._mu = None
        self._sd = None

    def set_scaling(self, x, chunk=500):
        parts = []
        for i in range(0, x.shape[0], chunk):
            parts.append(self.kernels(x[i:i + chunk]))
            mx.eval(parts[-1])
        f = mx.concatenate(parts)
        self._mu, self._sd = f.mean(0), f.std(0) + 1e-4

    def __call__(self, x):
        return self.head((self.kernels(x) - self._mu) / self._sd)


model = VarioClassifier()
model.set_scaling(mx.array(Xtr))
kernels_before = [np.array(c.weight) for c in model.kernels.convs]
EPOCHS, BATCH, DROP_AT = 16, 100, 8
steps_per_epoch = len(Xtr) // BATCH
sched = optim.step_decay(0.05, 0.1, DROP_AT * steps_per_epoch)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)


def scores(x, y):
    parts = []
    for i in range(0, len(x), 400):
        parts.append(model(mx.array(x[i:i + 400])))
        mx.eval(parts[-1])
    logits = mx.concatenate(parts)
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    pred = np.array(mx.argmax(logits, 1))
    return ce, 100 * float((pred == y).mean()), pred


history, best, best_epoch, t0 = [], None, 0, time.perf_counter()
grad_leaves = None
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    batch_losses = []
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        lr_used = sched(opt.step).item()
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        if grad_leaves is None:
            grad_leaves = [k for k, _ in tree_flatten(grads)]
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        batch_losses.append(loss.item())
    va_ce, va_acc, _ = scores(Xva, yva)
    mark = ""
    if best is None or va_ce < best[0]:
        best = (va_ce, tree_map(lambda a: mx.array(a), model.head.parameters()))
        best_epoch, mark = epoch, "*"
    history.append((epoch, lr_used, np.mean(batch_losses), np.min(batch_losses), np.max(batch_losses),
                    va_ce, va_acc, mark))

model.head.update(best[1])
te_ce, te_acc, pred = scores(Xte, yte)

print(f"gradient leaves: {grad_leaves}; random kernels: {4 * 48} (frozen), features: {2 * 4 * 48}")
print()
print("| epoch | lr | train CE (batch mean) | batch min | batch max | val CE | val acc % | |")
print("|---:|---:|---:|---:|---:|---:|---:|:-:|")
for e, lr, m, lo, hi, vce, vacc, mark in history:
    print(f"| {e} | {lr:.3f} | {m:.4f} | {lo:.4f} | {hi:.4f} | {vce:.4f} | {vacc:.1f} | {mark} |")
print()
cent = np.stack([Xtr[ytr == k].mean(0) for k in range(4)])
nc_pred = ((Xte[:, None, :] - cent[None]) ** 2).sum(-1).argmin(1)
summ = np.stack([Xte.mean(1), Xte.std(1), np.abs(np.diff(Xte, axis=1)).mean(1)], 1)
summ_tr = np.stack([Xtr.mean(1), Xtr.std(1), np.abs(np.diff(Xtr, axis=1)).mean(1)], 1)
s_mu, s_sd = summ_tr.mean(0), summ_tr.std(0)
cent_s = np.stack([((summ_tr - s_mu) / s_sd)[ytr == k].mean(0) for k in range(4)])
ns_pred = ((((summ - s_mu) / s_sd)[:, None, :] - cent_s[None]) ** 2).sum(-1).argmin(1)
print("| test set (1200 traces) | accuracy % |")
print("|---|---:|")
print(f"| chance | 25.0 |")
print(f"| nearest class-mean trace | {100 * float((nc_pred == yte).mean()):.1f} |")
print(f"| nearest centroid on mean/std/roughness | {100 * float((ns_pred == yte).mean()):.1f} |")
print(f"| random kernels + readout (epoch {best_epoch}) | {te_acc:.1f} |")
print()
print("confusion (rows true, cols predicted): " + ", ".join(CLASSES))
for k in range(4):
    print(f"  {CLASSES[k]:8s} " + " ".join(f"{int(((yte == k) & (pred == j)).sum()):4d}" for j in range(4)))
drift = max(float(np.abs(np.array(c.weight) - w0).max()) for c, w0 in zip(model.kernels.convs, kernels_before))
print(f"test CE {te_ce:.4f}; kernel max change {drift:.1f}; {time.perf_counter() - t0:.1f}s")
