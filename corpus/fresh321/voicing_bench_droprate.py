"""Organ-builder voicing bench: flat / in tune / sharp call from 7 raw pipe readings.

Dropout rate is stepped up stage by stage (0.0 -> 0.15 -> 0.35), so the
train-mode loss climbs at each stage boundary while the eval-mode validation
loss keeps improving.  The run checkpoints after stage 2, rebuilds the model
and optimizer from disk, and continues.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

CLASSES = ["flat", "in-tune", "sharp"]


def make_pipes(n):
    pressure = rng.uniform(60, 100, n)          # wind pressure, mm H2O
    cutup = rng.uniform(2.0, 8.0, n)            # mouth cut-up, mm
    nick = rng.uniform(0.0, 1.5, n)             # languid nick depth, mm
    scale = rng.normal(1.0, 0.08, n)            # scale ratio vs. normal
    foot = rng.uniform(4.0, 14.0, n)            # foot bore, mm
    temp = rng.normal(18.0, 4.0, n)             # loft temperature, C
    humid = rng.uniform(30, 80, n)              # humidity, %
    score = (0.05 * (pressure - 80) - 0.6 * (cutup - 5) + 1.2 * (nick - 0.75)
             + 0.25 * (foot - 9) * (scale - 1.0) * 10 + 0.06 * (temp - 18)
             + rng.normal(0, 0.35, n))
    y = np.where(score < -0.7, 0, np.where(score > 0.7, 2, 1))
    X = np.stack([pressure, cutup, nick, scale, foot, temp, humid], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_pipes(6000)
Xva, yva = make_pipes(1500)
Xte, yte = make_pipes(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
Xtr, Xva, Xte = map(mx.array, (Xtr, Xva, Xte))
ytr, yva, yte = map(mx.array, (ytr, yva, yte))
baseline = float(np.bincount(np.array(yva)).max() / len(yva))


class SteppedDropout(nn.Module):
    def __init__(self, rate=0.0):
        super().__init__()
        self.rate = rate

    def __call__(self, x):
        if not self.training or self.rate <= 0.0:
            return x
        keep = 1.0 - self.rate
        return x * mx.random.bernoulli(keep, x.shape) / keep


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 128)
        self.d1 = SteppedDropout()
        self.l2 = nn.Linear(128, 128)
        self.d2 = SteppedDropout()
        self.out = nn.Linear(128, 3)

    def set_rate(self, p):
        self.d1.rate = p
        self.d2.rate = p

    def __call__(self, x):
        x = self.d1(nn.relu(self.l1(x)))
        x = self.d2(nn.relu(self.l2(x)))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, y):
    model.eval()
    logits = model(X)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean()
    model.train()
    return loss.item(), acc.item()


BATCH = 128
STEPS_PER_EPOCH = Xtr.shape[0] // BATCH
STAGES = [(0.0, 6), (0.15, 6), (0.35, 8)]
TOTAL = STEPS_PER_EPOCH * sum(e for _, e in STAGES)
WARM = 60


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM),
         optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def run_epochs(model, opt, epochs, stage, p, ep0):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(ep0, ep0 + epochs):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot = 0.0
        for i in range(STEPS_PER_EPOCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vl, va = evaluate(model, Xva, yva)
        print(f"ep {ep:2d} stage {stage} p={p:.2f} lr={opt.learning_rate.item():.2e} "
              f"train_loss(dropout on) {tot / STEPS_PER_EPOCH:.4f} | "
              f"val_loss {vl:.4f} val_acc {va:.3f} (majority {baseline:.3f})")
    return ep0 + epochs


t0 = time.time()
model = VoicingNet()
mx.eval(model.parameters())
opt = make_optimizer()
model.train()

ep = 1
for s, (p, n_ep) in enumerate(STAGES[:2], start=1):
    model.set_rate(p)
    ep = run_epochs(model, opt, n_ep, s, p, ep)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "weights.safetensors")
opath = os.path.join(ckdir, "optim.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = evaluate(model, Xva, yva)
print(f"checkpoint written after epoch {ep - 1}: val_loss {before[0]:.4f}")

# fresh objects, restored from disk
model = VoicingNet()
model.load_weights(wpath)
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
after = evaluate(model, Xva, yva)
print(f"resumed: val_loss {after[0]:.4f} (saved {before[0]:.4f}), "
      f"optimizer step {int(opt.state['step'].item())}")
model.train()

p, n_ep = STAGES[2]
model.set_rate(p)
ep = run_epochs(model, opt, n_ep, 3, p, ep)

tl, ta = evaluate(model, Xte, yte)
print(f"test: loss {tl:.4f} acc {ta:.3f} vs majority {baseline:.3f}  ({time.time() - t0:.1f}s)")
shutil.rmtree(ckdir)
