"""Glacier traverse: flag crevasses in ground-penetrating-radar traces.

Stage 1 trains a small Conv1d detector on 96-sample traces.
Stage 2 keeps the detector frozen and fits a temperature and a shift on the
calibration split so the reported crevasse probabilities are honest.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

T = 96


def traces(n, rng, p_crev=0.18):
    t = np.arange(T)[None, :]
    label = (rng.uniform(size=n) < p_crev).astype(np.float32)
    depth = rng.uniform(10, 40, (n, 1))
    x = 0.6 * np.exp(-((t - depth) / 3.0) ** 2) * np.cos(0.9 * (t - depth))   # bed/firn layer
    x += 0.25 * np.sin(0.15 * t + rng.uniform(0, 6.28, (n, 1)))               # ringing
    # crevasse: a diffraction doublet (sign flip) deeper in the trace, sometimes faint
    c_at = rng.uniform(45, 85, (n, 1))
    amp = rng.uniform(0.25, 0.9, (n, 1))
    doublet = amp * (np.exp(-((t - c_at) / 2.0) ** 2) - np.exp(-((t - c_at - 4) / 2.0) ** 2))
    x += label[:, None] * doublet
    # some non-crevasse traces carry a single-sign boulder echo that looks similar
    boulder = (rng.uniform(size=(n, 1)) < 0.25) * (1 - label[:, None])
    x += boulder * amp * np.exp(-((t - c_at) / 2.5) ** 2)
    x += 0.18 * rng.standard_normal((n, T))
    gain = np.linspace(1.0, 1.8, T)[None, :]
    return (x * gain).astype(np.float32)[..., None], label


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, kernel_size=7, padding=3)
        self.c2 = nn.Conv1d(12, 16, kernel_size=5, padding=2, stride=2)
        self.c3 = nn.Conv1d(16, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        h = mx.concatenate([h.max(axis=1), h.mean(axis=1)], axis=-1)
        return self.head(h).squeeze(-1)


class Temperature(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_t = mx.zeros((1,))
        self.shift = mx.zeros((1,))

    def __call__(self, logits):
        return logits / mx.exp(self.log_t) + self.shift


def ece_pct(p, y, bins=10):
    p, y = np.asarray(p), np.asarray(y)
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & (p < hi) if hi < 1 else (p >= lo)
        if m.any():
            e += m.mean() * abs(p[m].mean() - y[m].mean())
    return 100.0 * e


def ap(p, y):
    order = np.argsort(-np.asarray(p))
    ys = np.asarray(y)[order]
    hits = np.cumsum(ys)
    prec = hits / np.arange(1, len(ys) + 1)
    return float((prec * ys).sum() / max(ys.sum(), 1))


rng = np.random.default_rng(3)
Xtr, ytr = traces(6000, rng)
Xcal, ycal = traces(1500, rng)
Xte, yte = traces(2000, rng)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xcal_m, ycal_m = mx.array(Xcal), mx.array(ycal)
Xte_m = mx.array(Xte)
pos_w = float((1 - ytr.mean()) / ytr.mean())
print(f"traverse: {len(ytr)} train / {len(ycal)} calibration / {len(yte)} test traces, crevasse share {100*ytr.mean():.1f}%")
print(f"prevalence baseline: AP {100*yte.mean():.1f}%, always-'no' accuracy {100*(1-yte.mean()):.1f}%")

mx.random.seed(11)
det = Detector()


def bce(logits, y, w=None):
    return nn.losses.binary_cross_entropy(logits, y, weights=w, reduction="mean")


def stage1_loss(model, x, y):
    w = 1.0 + (pos_w - 1.0) * y
    return bce(model(x), y, w)


def report(tag, logits_te):
    p = mx.sigmoid(logits_te)
    pn = np.array(p)
    acc = 100.0 * ((pn > 0.5) == (yte > 0.5)).mean()
    return (f"{tag}: test AP {100*ap(pn, yte):.1f}%, acc@0.5 {acc:.1f}%, "
            f"ECE {ece_pct(pn, yte):.2f} pts, mean p {pn.mean():.3f} vs share {yte.mean():.3f}")


print(report("untrained", det(Xte_m)))

# ---- stage 1: detector ----
EPOCHS, B = 12, 100
spe = len(ytr) // B
sched = optim.cosine_decay(1e-3, EPOCHS * spe, 1e-5)
opt = optim.Lion(learning_rate=sched, weight_decay=1e-2)
vg = nn.value_and_grad(det, stage1_loss)
t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = np.random.default_rng(ep).permutation(len(ytr))
    tot = 0.0
    for b in range(spe):
        idx = mx.array(perm[b * B:(b + 1) * B])
        loss, g = vg(det, Xtr_m[idx], ytr_m[idx])
        if step == 0:
            n0 = sum(1 for _, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0)
            print(f"stage 1 first step: {len(tree_flatten(g))} gradient leaves, {n0} all-zero")
        opt.update(det, g)
        mx.eval(det.parameters(), opt.state, loss)
        tot += float(loss)
        step += 1
    if ep % 3 == 0:
        cal = float(bce(det(Xcal_m), ycal_m))
        print(f"stage 1 epoch {ep:2d} step {step:4d} | weighted train bce {tot/spe:.4f} | "
              f"calibration bce (unweighted) {cal:.4f} | {time.time()-t0:.1f}s")

print(report("after stage 1", det(Xte_m)))

# ---- stage 2: temperature + shift, detector frozen ----
det.freeze()
snap = tree_map(lambda a: mx.array(a), det.parameters())
cal_logits = mx.stop_gradient(det(Xcal_m))
mx.eval(cal_logits)
temp = Temperature()
opt2 = optim.SGD(learning_rate=0.1, momentum=0.8)


def stage2_loss(tm, z, y):
    return bce(tm(z), y)


vg2 = nn.value_and_grad(temp, stage2_loss)
print(f"stage 2: trainable params {sum(v.size for _, v in tree_flatten(temp.trainable_parameters()))}, "
      f"detector trainable {sum(v.size for _, v in tree_flatten(det.trainable_parameters()))}")
for it in range(1, 201):
    loss, g = vg2(temp, cal_logits, ycal_m)
    opt2.update(temp, g)
    mx.eval(temp.parameters(), opt2.state, loss)
    if it in (1, 50, 100, 200):
        print(f"stage 2 iter {it:3d} | calibration bce {float(loss):.4f} | temperature {float(mx.exp(temp.log_t)[0]):.3f} | shift {float(temp.shift[0]):+.3f}")

drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in zip(tree_flatten(det.parameters()), tree_flatten(snap)))
print(f"detector max weight change during stage 2: {drift:.1e}")
print(report("after stage 2", temp(det(Xte_m))))
