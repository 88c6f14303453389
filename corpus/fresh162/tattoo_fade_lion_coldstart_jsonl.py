# Tattoo studio aftercare study: predict the healed look of a line
# (0 = crisp, 1 = faded, 2 = blowout) from session notes.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_TR, N_VA = 3000, 800


def make_sessions(n):
    depth = rng.normal(1.5, 0.35, n)          # needle depth, mm
    volts = rng.uniform(6.5, 10.0, n)         # machine voltage
    fitz = rng.integers(1, 7, n).astype(float)  # skin type 1..6
    pigment = rng.integers(0, 3, n).astype(float)  # black / grey wash / colour
    after = rng.uniform(0, 21, n)             # days of proper aftercare
    sun = rng.uniform(0, 1, n)                # sun exposure share
    bony = rng.integers(0, 2, n).astype(float)  # over bone (ankle, ribs)
    blow = 3.2 * (depth - 1.6) + 0.5 * (volts - 8.2) + 0.9 * bony
    fade = 1.4 * sun - 0.09 * after + 0.45 * pigment - 1.8 * (depth - 1.3).clip(max=0) + 0.15 * fitz
    logits = np.stack([np.zeros(n), 1.6 * fade, 1.7 * blow], 1) + rng.gumbel(size=(n, 3)) * 0.6
    y = logits.argmax(1)
    X = np.stack([depth, volts, fitz, pigment, after, sun, bony], 1)
    return X, y


Xtr, ytr = make_sessions(N_TR)
Xva, yva = make_sessions(N_VA)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array(((Xtr - mu) / sd).astype(np.float32))
Xva = mx.array(((Xva - mu) / sd).astype(np.float32))
ytr = mx.array(ytr.astype(np.int32))
yva = mx.array(yva.astype(np.int32))
counts = np.bincount(np.array(ytr), minlength=3)
majority_err = 100.0 * (1 - counts.max() / counts.sum())


class HealNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


model = HealNet()
mx.eval(model.parameters())

# warm restarts: each cycle starts at lr = 0, ramps up linearly, then cosine-decays
CYCLE, WARM, PEAK = 300, 40, 3e-3
N_CYCLES = 3


def lr_at(step):
    s = step % CYCLE
    peak = PEAK * (0.6 ** (step // CYCLE))
    if s < WARM:
        return peak * s / WARM
    t = (s - WARM) / (CYCLE - WARM)
    return 0.5 * peak * (1 + math.cos(math.pi * t))


opt = optim.Lion(learning_rate=0.0, weight_decay=0.05)
state = [model.state, opt.state]


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


# check once, before training, that every weight gets a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "all_zero": zero}))

BS = 100
t0 = time.time()
step = 0
for cyc in range(N_CYCLES):
    for s in range(CYCLE):
        opt.learning_rate = lr_at(step)
        idx = mx.array(rng.integers(0, N_TR, BS))
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if s % 50 == 0 or s == CYCLE - 1:
            logits = model(Xva)
            err = 100.0 * float(mx.mean(mx.argmax(logits, 1) != yva))
            vce = float(nn.losses.cross_entropy(logits, yva, reduction="mean"))
            print(json.dumps({"cycle": cyc, "it": s, "lr": round(lr_at(step), 6),
                              "ce": round(float(loss), 4), "val_ce": round(vce, 4),
                              "err_pct": round(err, 2), "majority_err_pct": round(majority_err, 2)}))
        step += 1

logits = model(Xva)
final_err = 100.0 * float(mx.mean(mx.argmax(logits, 1) != yva))
print(json.dumps({"event": "done", "steps": step, "val_err_pct": round(final_err, 2),
                  "majority_err_pct": round(majority_err, 2), "sec": round(time.time() - t0, 1)}))
