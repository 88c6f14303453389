"""Apiary hive-scale QAT: classify hive state (calm / foraging peak / swarming /
queenless) from 12 synthetic scale-and-sound features with a small MLP that must
ship as 4-bit weights. Stage A trains in float; stage B turns on 4-bit fake
quantisation (straight-through estimator) and fine-tunes; the shipped model is
then really quantised with nn.quantize and compared with a plain post-training
quantisation of the stage-A weights."""

import csv
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)
N_FEAT, N_CLS, GROUP, BITS = 12, 4, 32, 4


def make_data(n):
    y = rng.integers(0, N_CLS, n)
    centres = np.random.default_rng(3).normal(0, 1.0, (N_CLS, N_FEAT))
    x = centres[y] + rng.normal(0, 1.1, (n, N_FEAT))
    x[:, 0] += 0.4 * x[:, 1] * x[:, 2]          # weight-gain x temperature interaction
    x[:, 5] = np.tanh(x[:, 5])                  # hum amplitude saturates
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


@mx.custom_function
def fake_quant(w):
    o, i = w.shape
    g = w.reshape(o, i // GROUP, GROUP)
    lo, hi = g.min(axis=-1, keepdims=True), g.max(axis=-1, keepdims=True)
    scale = mx.maximum(hi - lo, 1e-8) / (2**BITS - 1)
    q = mx.clip(mx.round((g - lo) / scale), 0, 2**BITS - 1)
    return (q * scale + lo).reshape(o, i)


@fake_quant.vjp
def fake_quant_vjp(primals, cotangent, output):
    return (cotangent,)   # straight-through


class QATLinear(nn.Linear):
    quantise = False

    def __call__(self, x):
        w = fake_quant(self.weight) if QATLinear.quantise else self.weight
        return x @ w.T + self.bias


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, 64)   # first layer stays float (only 12 inputs)
        self.h1 = QATLinear(64, 128)
        self.h2 = QATLinear(128, 64)
        self.out = nn.Linear(64, N_CLS)

    def __call__(self, x):
        x = nn.silu(self.inp(x))
        x = nn.silu(self.h1(x))
        x = nn.silu(self.h2(x))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (model(x).argmax(-1) == y).astype(mx.float32).mean().item()


def ship(model):
    """Really quantise the hidden layers (4-bit affine, group 32)."""
    shipped = HiveNet()
    shipped.update(tree_map(lambda a: a, model.parameters()))
    nn.quantize(shipped, group_size=GROUP, bits=BITS,
                class_predicate=lambda p, m: p in ("h1", "h2"))
    return shipped


xtr, ytr = make_data(6000)
xva, yva = make_data(2000)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
prior = np.bincount(np.array(ytr), minlength=N_CLS).max() / ytr.size

model = HiveNet()
mx.eval(model.parameters())
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["stage", "epoch", "lr", "train_ce", "val_ce", "val_acc_pct", "majority_pct"])

warm = optim.linear_schedule(0.0, 3e-3, 180)            # starts at exactly 0
sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 1800, 3e-4)], [180])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def run_epochs(stage, epochs, bs=100, quiet_until=0):
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot = 0.0
        for b in range(0, xtr.shape[0], bs):
            idx = perm[b:b + bs]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(state)
            tot += loss.item()
        if 1 < ep <= quiet_until:
            continue                                   # silent stretch
        val = loss_fn(model, xva, yva).item()
        w.writerow([stage, ep, f"{opt.learning_rate.item():.2e}",
                    f"{tot / (xtr.shape[0] // bs):.4f}", f"{val:.4f}",
                    f"{100 * accuracy(model, xva, yva):.1f}", f"{100 * prior:.1f}"])
        sys.stdout.flush()


t0 = time.time()
run_epochs("A-float", 20, quiet_until=15)
float_acc = accuracy(model, xva, yva)
ptq_acc = accuracy(ship(model), xva, yva)
print(f"# stage A done: float val acc {100*float_acc:.1f}%  post-training 4-bit acc {100*ptq_acc:.1f}%")

QATLinear.quantise = True      # fake quantisation on: val ce jumps for an epoch on purpose


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):  # noqa: F811  (recompiled so the fake-quant branch is traced)
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


run_epochs("B-qat", 10)
QATLinear.quantise = False
shipped = ship(model)
qat_acc = accuracy(shipped, xva, yva)
n_q = sum(v.size for k, v in tree_flatten(shipped.parameters()) if k.startswith("h") and k.endswith("weight"))
print(f"# shipped 4-bit hidden layers: {n_q} packed uint32 words")
print(f"# val acc: float {100*float_acc:.1f}% | PTQ 4-bit {100*ptq_acc:.1f}% | QAT 4-bit {100*qat_acc:.1f}% | majority {100*prior:.1f}%")
print(f"# seconds {time.time() - t0:.1f}")
