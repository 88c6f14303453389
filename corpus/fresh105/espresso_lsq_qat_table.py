"""Espresso shot grading (under / ideal / over extracted) from 6 barista-log
readings.  A float MLP is trained first (silently), then fine-tuned with
LSQ (learned step size) 4-bit weight quantisation: every Linear weight is
fake-quantised with its own trainable step size, whose gradient comes from a
hand-written VJP (mx.custom_function).  The compiled step carries model and
optimizer state via inputs=/outputs=.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

QN, QP = -8, 7  # signed 4-bit codes


@mx.custom_function
def lsq_quant(w, s):
    return mx.clip(mx.round(w / s), QN, QP) * s


@lsq_quant.vjp
def lsq_quant_vjp(primals, cotangent, output):
    w, s = primals
    v = w / s
    inside = (v >= QN) & (v <= QP)
    # straight-through for the weights inside the range, zero outside
    dw = mx.where(inside, cotangent, 0.0)
    # LSQ step-size gradient, scaled by 1/sqrt(N * Qp) (Esser et al. 2020)
    ds_elem = mx.where(inside, mx.round(v) - v, mx.clip(v, QN, QP))
    gscale = 1.0 / math.sqrt(w.size * QP)
    ds = (cotangent * ds_elem).sum() * gscale
    return dw, ds.reshape(s.shape)


class LSQLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        lin = nn.Linear(d_in, d_out)
        self.weight = lin.weight
        self.bias = lin.bias
        self.step = mx.array([0.1])
        self.quant = False

    def init_step(self):
        # LSQ init: 2 * mean|w| / sqrt(Qp)
        self.step = mx.array([2.0 * mx.abs(self.weight).mean().item() / math.sqrt(QP)])

    def __call__(self, x):
        w = lsq_quant(self.weight, self.step) if self.quant else self.weight
        return x @ w.T + self.bias


class ShotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = LSQLinear(6, 48)
        self.l2 = LSQLinear(48, 48)
        self.l3 = LSQLinear(48, 3)

    def layers(self):
        return [self.l1, self.l2, self.l3]

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.l3(x)


def make_shots(n, rng):
    grind = rng.uniform(150, 400, n)      # microns
    dose = rng.uniform(16, 21, n)         # g
    ratio = rng.uniform(1.6, 2.8, n)      # out / in
    temp = rng.uniform(88, 96, n)         # C
    secs = rng.uniform(18, 40, n)
    age = rng.uniform(2, 40, n)           # days since roast
    ey = (20 + 0.035 * (300 - grind) + 0.5 * (dose - 18) + 2.5 * (ratio - 2.0)
          + 0.25 * (temp - 92) + 0.12 * (secs - 28) - 0.04 * (age - 14)
          + 0.6 * np.sin(grind / 40) + rng.normal(0, 0.5, n))
    y = np.digitize(ey, [18.5, 21.5])  # 0 under, 1 ideal, 2 over
    x = np.stack([grind, dose, ratio, temp, secs, age], 1)
    return x.astype(np.float32), y.astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def make_step(model, opt):
    vg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    return step


def run_phase(model, opt, xtr, ytr, xte, yte, epochs, bs, rng, report):
    step = make_step(model, opt)
    n = len(xtr)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        nb = n // bs
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
        if report:
            report(ep, tot / nb, accuracy(model, xte, yte))


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    x, y = make_shots(12000, rng)
    xte_np, yte_np = make_shots(3000, rng)
    mu, sd = x.mean(0), x.std(0)
    xtr, ytr = mx.array((x - mu) / sd), mx.array(y)
    xte, yte = mx.array((xte_np - mu) / sd), mx.array(yte_np)
    print("class shares (train): " + ", ".join(f"{c}={np.mean(y == i):.1%}"
          for i, c in enumerate(["under", "ideal", "over"])))

    mx.random.seed(3)
    model = ShotNet()
    # float pre-training: step sizes are unused there, so keep them frozen
    for l in model.layers():
        l.freeze(keys=["step"])
    opt = optim.Adam(learning_rate=3e-3)
    run_phase(model, opt, xtr, ytr, xte, yte, epochs=15, bs=128, rng=rng, report=None)
    float_acc = accuracy(model, xte, yte)
    print(f"float model: test accuracy {float_acc:.2%}  ({time.time() - t0:.1f}s, no per-epoch log)")

    # switch to 4-bit LSQ fine-tuning
    for l in model.layers():
        l.unfreeze(keys=["step"])
        l.init_step()
        l.quant = True
    q0 = accuracy(model, xte, yte)
    print(f"after 4-bit quantisation, before fine-tune: test accuracy {q0:.2%}")

    _, g = nn.value_and_grad(model, loss_fn)(model, xtr[:256], ytr[:256])
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0]
    print(f"QAT gradient check: {len(leaves)} trainable leaves, all-zero: {zero or 'none'}")

    print()
    print(f"{'epoch':>5} | {'train CE':>9} | {'test acc':>8} | " + " | ".join(
        f"step[{i}]" for i in range(1, 4)))
    print("-" * 60)

    def report(ep, ce, acc):
        steps = " | ".join(f"{l.step.item():7.4f}" for l in model.layers())
        print(f"{ep:5d} | {ce:9.4f} | {acc:8.2%} | {steps}")

    qopt = optim.Adam(learning_rate=5e-4)
    run_phase(model, qopt, xtr, ytr, xte, yte, epochs=8, bs=128, rng=rng, report=report)

    codes = [np.unique(np.array(mx.clip(mx.round(l.weight / l.step), QN, QP))).size
             for l in model.layers()]
    print("-" * 60)
    print(f"distinct 4-bit codes used per layer: {codes} (max 16)")
    print(f"final: float {float_acc:.2%} -> 4-bit LSQ {accuracy(model, xte, yte):.2%}  "
          f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
