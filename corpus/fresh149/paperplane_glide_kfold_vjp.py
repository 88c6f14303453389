# Paper-airplane contest: predict glide distance (metres) from fold geometry.
# 5-fold cross-validation; a hand-written VJP for a soft-clipped activation;
# one results table per fold, steps restart at 0 each fold.
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

gen = np.random.default_rng(404)
N = 600
wing_span = gen.uniform(12, 30, N)        # cm
nose_folds = gen.integers(1, 6, N)        # count
paper_gsm = gen.choice([70, 80, 90, 100, 120], N)
dihedral = gen.uniform(-5, 20, N)         # degrees
launch_angle = gen.uniform(-10, 30, N)    # degrees
winglets = gen.integers(0, 2, N)
dist = (3.0 + 0.22 * wing_span + 0.9 * nose_folds - 0.08 * (nose_folds - 3) ** 2 * 4
        - 0.025 * (paper_gsm - 85) + 2.5 * np.sin(np.radians(dihedral) * 3)
        + 4.0 * np.exp(-((launch_angle - 8) / 10) ** 2) + 1.2 * winglets
        + gen.normal(0, 0.6, N))
X = np.stack([wing_span, nose_folds, paper_gsm, dihedral, launch_angle, winglets], 1).astype(np.float32)
y = dist.astype(np.float32)


@mx.custom_function
def soft_clip(x):
    return 3.0 * mx.tanh(x / 3.0)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals  # single input: primals is the array itself
    t = mx.tanh(x / 3.0)
    return cotangent * (1.0 - t * t)


# audit: hand-written VJP against autodiff of the same expression
probe = mx.linspace(-8, 8, 33)
g_custom = mx.grad(lambda v: soft_clip(v).sum())(probe)
g_auto = mx.grad(lambda v: (3.0 * mx.tanh(v / 3.0)).sum())(probe)
print(f"vjp audit: max|custom-auto| = {mx.max(mx.abs(g_custom - g_auto)).item():.2e}")


class GlideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = soft_clip(self.l1(x))
        h = soft_clip(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


folds = np.array_split(gen.permutation(N), 5)
summary = []
t_all = time.time()
for k, test_idx in enumerate(folds):
    train_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    xm, xs = X[train_idx].mean(0), X[train_idx].std(0) + 1e-6
    ym, ys = y[train_idx].mean(), y[train_idx].std()
    Xtr = mx.array((X[train_idx] - xm) / xs); Ytr = mx.array((y[train_idx] - ym) / ys)
    Xte = mx.array((X[test_idx] - xm) / xs); Yte_m = y[test_idx]

    mx.random.seed(100 + k)
    model = GlideNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, mse)(model, xb, yb)
        opt.update(model, grads)
        return loss

    print(f"\nfold {k + 1}/5  train={len(train_idx)}  test={len(test_idx)}")
    print(f"{'step':>5} | {'train mse (z)':>13} | {'test MAE m':>10} | {'test R2 %':>9} | {'mean-guess MAE m':>16}")
    print("-" * 66)
    guess_mae = float(np.mean(np.abs(Yte_m - ym)))
    order = np.arange(len(train_idx))
    n_steps = 900
    for s in range(n_steps + 1):
        if s % 15 == 0:
            gen.shuffle(order)
        bi = mx.array(order[(s % 15) * 32:(s % 15) * 32 + 32])
        loss = step(Xtr[bi], Ytr[bi])
        mx.eval(loss, model.parameters(), opt.state)
        if s == 0:
            # every parameter should receive gradient
            _, g0 = nn.value_and_grad(model, mse)(model, Xtr, Ytr)
            from mlx.utils import tree_flatten
            dead = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
            if dead:
                sys.exit(f"dead parameters: {dead}")
        if s % 150 == 0:
            pred = model(Xte) * ys + ym
            mae = float(mx.mean(mx.abs(pred - mx.array(Yte_m))))
            r2 = 1 - float(mx.sum((pred - mx.array(Yte_m)) ** 2)) / float(np.sum((Yte_m - Yte_m.mean()) ** 2))
            print(f"{s:>5} | {loss.item():>13.4f} | {mae:>10.3f} | {100 * r2:>8.1f}% | {guess_mae:>16.3f}")
    summary.append((mae, r2))

print("\nfold  MAE(m)  R2")
for k, (mae, r2) in enumerate(summary):
    print(f"  {k + 1}   {mae:6.3f}  {r2:.3f}")
maes = [m for m, _ in summary]
print(f"cv MAE {np.mean(maes):.3f} +/- {np.std(maes):.3f} m, total {time.time() - t_all:.1f}s")
