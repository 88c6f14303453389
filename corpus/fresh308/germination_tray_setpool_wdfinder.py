"""Germination trays: how many distinct species sprouted in a tray?

Each tray is a set of 4..14 seedlings, every seedling a 5-number measurement
(hypocotyl length, cotyledon width, leaf angle, colour index, stem hairiness).
Seedlings of one species cluster around a species prototype. The label is the
number of distinct species in the tray (1..5), so the model has to look at the
whole set: per-seedling MLP, masked mean+max pooling, tray MLP.

Plan:
  1. learning-rate range test with AdamW, repeated for three weight decays,
     every sweep starting from the same initial weights (restored after each).
  2. SGDR: cosine cycles of 60, 120, 240 steps, each restart peak half the
     previous one, floor 0.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_SPECIES = 9
MAX_SET = 14
FEAT = 5

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
protos = rng.normal(0, 1.6, size=(N_SPECIES, FEAT)).astype(np.float32)


def make_trays(n):
    x = np.zeros((n, MAX_SET, FEAT), np.float32)
    m = np.zeros((n, MAX_SET), np.float32)
    y = np.zeros((n,), np.int32)
    for i in range(n):
        k = rng.integers(1, 6)  # distinct species, 1..5
        sp = rng.choice(N_SPECIES, size=k, replace=False)
        size = rng.integers(max(4, k), MAX_SET + 1)
        members = np.concatenate([sp, rng.choice(sp, size=size - k)])
        rng.shuffle(members)
        x[i, :size] = protos[members] + rng.normal(0, 0.35, size=(size, FEAT))
        m[i, :size] = 1.0
        y[i] = k - 1
    return mx.array(x), mx.array(m), mx.array(y)


xtr, mtr, ytr = make_trays(4000)
xva, mva, yva = make_trays(1000)
majority = float(np.bincount(np.array(ytr)).max() / ytr.shape[0])


class TrayNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(FEAT, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.rho = nn.Sequential(nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, 5))

    def __call__(self, x, m):
        e = self.phi(x)                              # (B, S, h)
        w = m[..., None]
        mean = (e * w).sum(axis=1) / mx.maximum(w.sum(axis=1), 1.0)
        mx_ = mx.where(w > 0, e, -1e4).max(axis=1)
        return self.rho(mx.concatenate([mean, mx_], axis=-1))


def loss_fn(model, x, m, y):
    return nn.losses.cross_entropy(model(x, m), y, reduction="mean")


def accuracy(model, x, m, y):
    return float((model(x, m).argmax(axis=-1) == y).astype(mx.float32).mean())


def batches(step, bs=64):
    idx = mx.array(np.random.default_rng(1000 + step).integers(0, xtr.shape[0], bs))
    return xtr[idx], mtr[idx], ytr[idx]


model = TrayNet()
mx.eval(model.parameters())
init_weights = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]


def restore():
    model.update(tree_unflatten([(k, mx.array(v)) for k, v in init_weights]))
    mx.eval(model.parameters())


def checksum():
    return sum(float(mx.abs(v).sum()) for _, v in tree_flatten(model.parameters()))


t0 = time.time()
print(f"trays train={xtr.shape[0]} val={xva.shape[0]}  classes=1..5 species  majority-class acc={majority:.3f}")
print(f"initial weight checksum {checksum():.4f}")

# ---------------------------------------------------------------- 1. range tests
LR_MIN, LR_MAX, N_SWEEP = 1e-5, 3.0, 60
mult = (LR_MAX / LR_MIN) ** (1.0 / (N_SWEEP - 1))
sweep_rows = []
for wd in (0.0, 1e-3, 1e-1):
    restore()
    opt = optim.AdamW(learning_rate=LR_MIN, weight_decay=wd)
    lvg = nn.value_and_grad(model, loss_fn)
    smooth, best, best_lr, lrs, losses = 0.0, float("inf"), LR_MIN, [], []
    stopped = "end"
    for i in range(N_SWEEP):
        lr = LR_MIN * mult ** i
        opt.learning_rate = lr
        loss, g = lvg(model, *batches(i))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        lv = float(loss)
        smooth = 0.9 * smooth + 0.1 * lv
        sm = smooth / (1 - 0.9 ** (i + 1))
        lrs.append(lr)
        losses.append(sm)
        print(f"  sweep wd={wd:<6g} it={i:02d} lr={lr:.2e} loss={lv:.4f} smoothed={sm:.4f}")
        if sm < best:
            best, best_lr = sm, lr
        if not math.isfinite(lv) or sm > 4 * best:
            stopped = f"stopped at it {i} (smoothed {sm:.3g} > 4x min)"
            break
    # steepest descent point on the smoothed curve, before the minimum
    k = int(np.argmin(losses))
    d = np.diff(np.array(losses[: k + 1])) if k > 2 else np.array([0.0])
    steep_lr = lrs[int(np.argmin(d)) + 1] if k > 2 else best_lr
    sweep_rows.append((wd, best, best_lr, steep_lr, stopped))
restore()
print(f"weights restored, checksum {checksum():.4f}")

print("wd        min_smoothed  lr_at_min   steepest_lr  note")
for wd, best, blr, slr, note in sweep_rows:
    print(f"{wd:<9g} {best:<13.4f} {blr:<11.2e} {slr:<12.2e} {note}")
wd_pick, _, blr_pick, _, _ = min(sweep_rows, key=lambda r: r[1])
peak = blr_pick / 10.0
print(f"picked wd={wd_pick:g}, peak lr = lr_at_min/10 = {peak:.2e}")

# ---------------------------------------------------------------- 2. SGDR
cycles = [60, 120, 240]
opt = optim.AdamW(learning_rate=0.0, weight_decay=wd_pick)
lvg = nn.value_and_grad(model, loss_fn)
step = 0
for c, T in enumerate(cycles):
    top = peak * (0.5 ** c)
    run = 0.0
    for t in range(T):
        lr = 0.5 * top * (1 + math.cos(math.pi * t / T))
        opt.learning_rate = lr
        loss, g = lvg(model, *batches(10_000 + step))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run += float(loss)
        step += 1
        if t % 30 == 0 or t == T - 1:
            print(f"cycle {c+1} step {step:4d} t={t:3d}/{T} lr={lr:.3e} "
                  f"train_xent={float(loss):.4f} val_acc={accuracy(model, xva, mva, yva):.3f} (majority {majority:.3f})")
    print(f"== end cycle {c+1}: mean train xent {run / T:.4f}, val acc {accuracy(model, xva, mva, yva):.3f}")

vl = float(loss_fn(model, xva, mva, yva))
print(f"final val xent {vl:.4f}  val acc {accuracy(model, xva, mva, yva):.3f}  majority {majority:.3f}  "
      f"steps {step}  {time.time() - t0:.1f}s")
