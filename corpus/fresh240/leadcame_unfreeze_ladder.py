"""Stained-glass studio: pot-metal colour family from transmission spectra.

A classifier is pretrained on clean lab spectra, then adapted to weathered
in-situ readings (haze tilt, soot dimming, gain drift) by gradual unfreezing:
head only -> + block 3 -> + block 2 -> everything. Every rung gets a fresh
AdamW whose schedule warms up linearly from exactly 0 and then decays, so the
step counter and the learning rate restart at each rung. Rung 3 is
checkpointed half-way, the process state is dropped and rebuilt from disk, and
training continues from the restored step.
"""

import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FAMILIES = ["cobalt", "copper-ruby", "selenium-amber", "chrome-green", "manganese", "opal-white"]
BINS = 10
rng = np.random.default_rng(11)
mx.random.seed(11)

proto = rng.uniform(0.3, 0.7, size=(len(FAMILIES), BINS))
proto[:, 3:7] += rng.normal(scale=0.15, size=(len(FAMILIES), 4))


def lab_spectra(n):
    y = rng.integers(0, len(FAMILIES), size=n)
    x = proto[y] + rng.normal(scale=0.12, size=(n, BINS))
    return x.astype(np.float32), y.astype(np.int32)


def insitu_spectra(n):
    x, y = lab_spectra(n)
    tilt = np.linspace(-1.0, 1.0, BINS)[None, :] * rng.uniform(0.1, 0.45, size=(n, 1))
    soot = rng.uniform(0.35, 0.8, size=(n, 1))
    x = soot * x + tilt + 0.15 + rng.normal(scale=0.05, size=(n, BINS))
    return x.astype(np.float32), y


class GlassNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Linear(BINS, 64)
        self.block2 = nn.Linear(64, 64)
        self.block3 = nn.Linear(64, 32)
        self.head = nn.Linear(32, len(FAMILIES))

    def __call__(self, x):
        h = nn.gelu(self.block1(x))
        h = nn.gelu(self.block2(h))
        h = nn.gelu(self.block3(h))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def make_opt(peak, steps):
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def snapshot(tree):
    return {k: np.array(v) for k, v in tree_flatten(tree)}


def drift(before, model):
    now = dict(tree_flatten(model.parameters()))
    return max(float(np.abs(np.array(now[k]) - before[k]).max()) for k in before)


# ---------------------------------------------------------------- data
x_lab, y_lab = lab_spectra(6000)
x_fit, y_fit = insitu_spectra(600)      # small labelled in-situ set
x_val, y_val = insitu_spectra(1500)
xv, yv = mx.array(x_val), mx.array(y_val)
majority = np.bincount(y_val).max() / len(y_val)

# ---------------------------------------------------------------- lab pretraining (quiet)
model = GlassNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
first = last = None
for it in range(800):
    j = rng.integers(0, len(x_lab), size=128)
    loss, g = step(model, mx.array(x_lab[j]), mx.array(y_lab[j]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if it == 0:
        first = loss.item()
last = loss.item()
lab_only = accuracy(model, xv, yv)
print(
    f"lab pretrain: 800 steps, ce {first:.3f} -> {last:.3f}, "
    f"lab acc {accuracy(model, mx.array(x_lab[:1500]), mx.array(y_lab[:1500])) * 100:.1f}%, "
    f"in-situ acc {lab_only * 100:.1f}% (majority {majority * 100:.1f}%), {time.time() - t0:.1f}s"
)

# ---------------------------------------------------------------- gradual unfreezing
RUNGS = [
    ("R1 head", ["head"], 3e-3, 120),
    ("R2 +block3", ["head", "block3"], 2e-3, 120),
    ("R3 +block2", ["head", "block3", "block2"], 1e-3, 160),
    ("R4 all", ["head", "block3", "block2", "block1"], 5e-4, 160),
]
ckpt_dir = tempfile.mkdtemp()
BATCH = 32


def set_trainable(m, names):
    m.freeze()
    for n in names:
        getattr(m, n).unfreeze()


def run_rung(model, opt, label, names, start, steps, frozen_ref, ckpt_at=None):
    step = nn.value_and_grad(model, loss_fn)
    win = []
    for s in range(start, steps):
        lr_now = opt.learning_rate.item() if s > 0 else 0.0
        j = rng.integers(0, len(x_fit), size=BATCH)
        loss, g = step(model, mx.array(x_fit[j]), mx.array(y_fit[j]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        win.append(loss.item())
        if s == 0 or (s + 1) % 40 == 0:
            d = drift(frozen_ref, model) if frozen_ref else 0.0
            print(
                f"{label:<11} step {s + 1:03d}/{steps} | lr {lr_now:.2e} | ce {np.mean(win):.3f} "
                f"| in-situ acc {accuracy(model, xv, yv) * 100:5.1f}% "
                f"(lab-only {lab_only * 100:.1f}%, majority {majority * 100:.1f}%) "
                f"| frozen drift {d:.1e}"
            )
            win = []
        if ckpt_at is not None and s + 1 == ckpt_at:
            return s + 1
    return steps


for label, names, peak, steps in RUNGS:
    set_trainable(model, names)
    n_train = len(tree_flatten(model.trainable_parameters()))
    n_all = len(tree_flatten(model.parameters()))
    frozen_names = [k for k in ("block1", "block2", "block3", "head") if k not in names]
    frozen_ref = {
        k: v for k, v in snapshot(model.parameters()).items() if k.split(".")[0] in frozen_names
    }
    print(f"-- {label}: {n_train}/{n_all} leaves trainable, warm-up from lr 0 over 30 steps")
    opt = make_opt(peak, steps)
    if label.startswith("R3"):
        done = run_rung(model, opt, label, names, 0, steps, frozen_ref, ckpt_at=steps // 2)
        acc_before = accuracy(model, xv, yv)
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        del model, opt
        model = GlassNet()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        set_trainable(model, names)
        opt = make_opt(peak, steps)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        print(
            f"   checkpoint at step {done}: saved, process state dropped, restored "
            f"(acc {acc_before * 100:.1f}% -> {accuracy(model, xv, yv) * 100:.1f}%, "
            f"optimizer step {int(opt.step.item())})"
        )
        run_rung(model, opt, label, names, done, steps, frozen_ref)
    else:
        run_rung(model, opt, label, names, 0, steps, frozen_ref)

final = accuracy(model, xv, yv)
print(
    f"done: in-situ acc {final * 100:.1f}% vs lab-only {lab_only * 100:.1f}% "
    f"and majority {majority * 100:.1f}%"
)
shutil.rmtree(ckpt_dir)
