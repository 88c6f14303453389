"""Dairy-cow neck-collar accelerometer: grazing / ruminating / resting / walking.

Synthetic 3-axis streams for 6 cows. Cows 0-4: first 70% of each stream gives
overlapping training windows, last 30% (after a one-window gap) gives
non-overlapping validation windows; cow 5 is an unseen test animal.
Standardisation statistics come from training windows only.
nn.GRU(3, 48) + linear head, SGD (Nesterov momentum) with hand-written cosine
warm restarts (3 cycles), gradient-norm clipping, and a checkpoint/resume of
weights + optimizer state after the first cycle.
"""
import json
import os
import shutil
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

BEH = ["graze", "rumin", "rest", "walk"]
WIN = 40
STREAM = 3200
rng = np.random.default_rng(5)
mx.random.seed(5)


def make_cow(c):
    tilt = rng.uniform(-0.15, 0.15)
    gain = rng.uniform(0.8, 1.25)
    labels = np.zeros(STREAM, dtype=np.int64)
    t = 0
    b = rng.integers(4)
    while t < STREAM:
        seg = int(rng.integers(60, 260))
        labels[t:t + seg] = b
        t += seg
        b = rng.choice([k for k in range(4) if k != b])
    x = np.zeros((STREAM, 3), dtype=np.float32)
    ph = 0.0
    for i, b in enumerate(labels):
        if b == 0:    # head down, bites + slow steps
            ph += 2 * np.pi / rng.uniform(4, 7)
            v = [-0.75 + 0.25 * np.sin(ph), 0.15 * np.sin(ph / 3), 0.3 + 0.2 * np.cos(ph)]
        elif b == 1:  # head level, fast small chewing rhythm on z
            ph += 2 * np.pi / rng.uniform(2.2, 2.8)
            v = [0.05, 0.02, 0.6 + 0.12 * np.sin(ph)]
        elif b == 2:  # quiet
            v = [0.08, 0.0, 0.62]
        else:         # walking, strong periodic sway
            ph += 2 * np.pi / rng.uniform(7, 10)
            v = [0.1 + 0.35 * np.sin(ph), 0.45 * np.sin(ph + 1.0), 0.55 + 0.2 * np.abs(np.sin(ph))]
        x[i] = np.array(v) * gain + tilt + 0.09 * rng.standard_normal(3)
    return x, labels


def windows(x, y, start, stop, stride):
    xs, ys = [], []
    for s in range(start, stop - WIN + 1, stride):
        xs.append(x[s:s + WIN])
        ys.append(np.bincount(y[s:s + WIN], minlength=4).argmax())
    return np.stack(xs), np.array(ys)


cows = [make_cow(c) for c in range(6)]
tr_x, tr_y, va_x, va_y = [], [], [], []
for c in range(5):
    x, y = cows[c]
    cut = int(0.7 * STREAM)
    a, b = windows(x, y, 0, cut, 10)
    tr_x.append(a), tr_y.append(b)
    a, b = windows(x, y, cut + WIN, STREAM, WIN)
    va_x.append(a), va_y.append(b)
Xtr, ytr = np.concatenate(tr_x), np.concatenate(tr_y)
Xva, yva = np.concatenate(va_x), np.concatenate(va_y)
Xte, yte = windows(*cows[5], 0, STREAM, WIN)
mu, sd = Xtr.reshape(-1, 3).mean(0), Xtr.reshape(-1, 3).std(0)
Xtr, Xva, Xte = [((a - mu) / sd).astype(np.float32) for a in (Xtr, Xva, Xte)]
print(f"windows train {len(ytr)} (stride 10) | val {len(yva)} | test cow {len(yte)}")


class Collar(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        h = self.rnn(x)
        return self.head(h[:, -1, :])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(y, p):
    fs = []
    for c in range(4):
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        fs.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(fs))


def evaluate(model, X, y):
    logits = model(mx.array(X))
    loss = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    p = np.array(mx.argmax(logits, axis=-1))
    return loss, float(np.mean(p == y)), macro_f1(y, p)


maj = np.bincount(ytr, minlength=4).argmax()
print(f"baselines (val): majority '{BEH[maj]}' acc {np.mean(yva == maj):.3f} macro_f1 "
      f"{macro_f1(yva, np.full_like(yva, maj)):.3f}")

BATCH = 64
EP_PER_CYCLE = 6
CYCLES = 3
LR_MAX, LR_MIN = 0.08, 0.002
steps_per_epoch = len(ytr) // BATCH
cycle_steps = EP_PER_CYCLE * steps_per_epoch


def sgdr(step):
    t = step % cycle_steps
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + np.cos(np.pi * t / cycle_steps))


def build():
    m = Collar()
    mx.eval(m.parameters())
    o = optim.SGD(learning_rate=LR_MAX, momentum=0.9, nesterov=True, weight_decay=1e-4)
    return m, o


model, opt = build()
ckdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_collar_ckpt")
os.makedirs(ckdir, exist_ok=True)
step = 0
t0 = time.time()
for cycle in range(CYCLES):
    for e in range(EP_PER_CYCLE):
        grad_fn = nn.value_and_grad(model, loss_fn)
        perm = rng.permutation(len(ytr))
        run, gmax = 0.0, 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            opt.learning_rate = mx.array(sgdr(step))
            loss, grads = grad_fn(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, gnorm)
            run += loss.item()
            gmax = max(gmax, gnorm.item())
            step += 1
        vl, va, vf = evaluate(model, Xva, yva)
        ep = cycle * EP_PER_CYCLE + e + 1
        print(f"cycle {cycle + 1} epoch {ep:2d} lr_end {sgdr(step - 1):.4f} train_loss {run / steps_per_epoch:.4f} "
              f"max_gnorm {gmax:.2f} val_loss {vl:.4f} val_acc {va:.3f} val_macro_f1 {vf:.3f} "
              f"({time.time() - t0:.1f}s)")
    if cycle == 0:
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckdir, "meta.json"), "w") as f:
            json.dump({"step": step}, f)
        before = evaluate(model, Xva, yva)
        del model, opt
        model, opt = build()
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        with open(os.path.join(ckdir, "meta.json")) as f:
            step = json.load(f)["step"]
        after = evaluate(model, Xva, yva)
        print(f"checkpoint saved and reloaded at step {step}: val_loss {before[0]:.4f} -> {after[0]:.4f}")

tl, ta, tf = evaluate(model, Xte, yte)
print(f"unseen cow: loss {tl:.4f} acc {ta:.3f} macro_f1 {tf:.3f}")
shutil.rmtree(ckdir)
