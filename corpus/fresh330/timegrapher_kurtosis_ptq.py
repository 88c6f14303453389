"""Watchmaker's timegrapher log: grade a mechanical movement (5 service grades)
from 16 bench readings, and make the trained net robust to low-bit post-training
quantisation with a kurtosis penalty on the hidden weight matrices (KURE).

Phase 1: plain cross-entropy, linear warm-up from exactly 0, quiet (one line at the end).
Phase 2: the kurtosis penalty weight ramps from 0 to LAMBDA_MAX and the penalty is
part of the reported total loss (total > ce); test accuracy sits at the label-noise
ceiling (~0.79) while train ce keeps falling.  After every
phase-2 epoch the float weights are rounded with mx.quantize/mx.dequantize at
4 and 3 bits (group 32) and evaluated beside the float net and a majority baseline.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
D_IN, HID, N_CLS = 16, 128, 5
N_TRAIN, N_TEST = 8000, 2000
BATCH = 128
P1_EPOCHS, P2_EPOCHS = 6, 8
LAMBDA_MAX = 0.3
KURT_TARGET = 1.8

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_logs(n):
    x = rng.normal(0, 1, size=(n, D_IN)).astype(np.float32)
    rate = 1.2 * x[:, 0] - 0.8 * x[:, 1] * x[:, 2] + 0.6 * np.sin(2 * x[:, 3])
    amp = 0.9 * x[:, 4] + 0.5 * x[:, 5] ** 2 - 0.7 * x[:, 6]
    beat = np.abs(x[:, 7]) + 0.4 * x[:, 8] * x[:, 9]
    score = rate + 0.8 * amp - 1.1 * beat + 0.3 * x[:, 10:].sum(1) / 3
    score = score + rng.normal(0, 0.35, n)
    cuts = np.quantile(score, [0.15, 0.4, 0.65, 0.87]) if n == N_TRAIN else CUTS
    return x, np.digitize(score, cuts).astype(np.int32), cuts


xtr, ytr, CUTS = make_logs(N_TRAIN)
xte, yte, _ = make_logs(N_TEST)
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))
majority = float(np.mean(yte == np.bincount(ytr).argmax()))


class GradeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D_IN, HID)
        self.h1 = nn.Linear(HID, HID)
        self.h2 = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, N_CLS)

    def __call__(self, x):
        x = nn.gelu(self.inp(x))
        x = nn.gelu(self.h1(x))
        x = nn.gelu(self.h2(x))
        return self.out(x)

    def penalised(self):
        return [self.h1.weight, self.h2.weight, self.out.weight]


def kurtosis(w):
    w = w.reshape(-1)
    mu = mx.mean(w)
    var = mx.mean((w - mu) ** 2)
    return mx.mean((w - mu) ** 4) / (var**2 + 1e-12)


def make_loss(lam_ref):
    def loss_fn(model, x, y):
        ce = nn.losses.cross_entropy(model(x), y, reduction="mean")
        kure = sum((kurtosis(w) - KURT_TARGET) ** 2 for w in model.penalised()) / 3
        return ce + lam_ref[0] * kure, (ce, kure)

    return loss_fn


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def ptq_accuracy(model, bits):
    saved = {k: v for k, v in tree_flatten(model.parameters())}
    for layer in (model.h1, model.h2, model.out):
        wq, s, b = mx.quantize(layer.weight, group_size=32, bits=bits)
        layer.weight = mx.dequantize(wq, s, b, group_size=32, bits=bits)
    acc = accuracy(model, Xte, Yte)
    model.load_weights(list(saved.items()))
    return acc


model = GradeNet()
mx.eval(model.parameters())
lam = [0.0]
loss_fn = make_loss(lam)
step_fn = nn.value_and_grad(model, loss_fn)

steps_per_epoch = N_TRAIN // BATCH
total_steps = steps_per_epoch * (P1_EPOCHS + P2_EPOCHS)
warm_steps = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm_steps),
     optim.cosine_decay(2e-3, total_steps - warm_steps, end=5e-5)],
    [warm_steps],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)

t0 = time.time()
print(f"timegrapher logs train={N_TRAIN} test={N_TEST} majority baseline acc {majority:.3f}")
print(f"phase 1: {P1_EPOCHS} epochs cross-entropy only (quiet)")
step = 0
for epoch in range(1, P1_EPOCHS + P2_EPOCHS + 1):
    phase2 = epoch > P1_EPOCHS
    perm = mx.array(rng.permutation(N_TRAIN))
    sums = np.zeros(3)
    for i in range(steps_per_epoch):
        if phase2:
            frac = ((epoch - P1_EPOCHS - 1) * steps_per_epoch + i) / (P2_EPOCHS * steps_per_epoch // 2)
            lam[0] = LAMBDA_MAX * min(1.0, frac)
        idx = perm[i * BATCH : (i + 1) * BATCH]
        (loss, (ce, kure)), grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ce, kure)
        sums += (loss.item(), ce.item(), kure.item())
        step += 1
    if epoch == P1_EPOCHS:
        kurts = [round(kurtosis(w).item(), 2) for w in model.penalised()]
        print(f"end of phase 1: ce {sums[1] / steps_per_epoch:.4f} test_acc {accuracy(model, Xte, Yte):.3f}"
              f" ptq4 {ptq_accuracy(model, 4):.3f} ptq3 {ptq_accuracy(model, 3):.3f} kurtosis {kurts}")
        print(f"phase 2: kurtosis penalty ramps 0 -> {LAMBDA_MAX} over {P2_EPOCHS // 2} epochs, then holds")
    elif phase2:
        m = sums / steps_per_epoch
        kurts = [round(kurtosis(w).item(), 2) for w in model.penalised()]
        print(f"epoch {epoch:2d} lam {lam[0]:.3f} total {m[0]:.4f} ce {m[1]:.4f} kure {m[2]:.3f}"
              f" | float {accuracy(model, Xte, Yte):.3f} ptq4 {ptq_accuracy(model, 4):.3f}"
              f" ptq3 {ptq_accuracy(model, 3):.3f} | kurtosis {kurts} lr {opt.learning_rate.item():.2e}",
              flush=True)

path = os.path.join(tempfile.mkdtemp(), "grade_net.npz")
model.save_weights(path)
reloaded = GradeNet()
reloaded.load_weights(path)
mx.eval(reloaded.parameters())
print(f"reloaded checkpoint test acc {accuracy(reloaded, Xte, Yte):.3f} (live {accuracy(model, Xte, Yte):.3f})")
print(f"summary: majority {majority:.3f} | float {accuracy(model, Xte, Yte):.3f}"
      f" | ptq4 {ptq_accuracy(model, 4):.3f} | ptq3 {ptq_accuracy(model, 3):.3f}")
print(f"done in {time.time() - t0:.1f}s")
