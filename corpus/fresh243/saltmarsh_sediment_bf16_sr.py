"""Saltmarsh accretion: predict annual sediment accretion (mm/yr) at marsh plots.

Pure-bfloat16 weights (no float32 master copy). Adam moments are float32 and the
float32 update is written back to the bf16 weights with STOCHASTIC ROUNDING.
Output: CSV rows.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

# elevation below MHW (m), tidal range (m), SSC (mg/L), stem density, dist to creek (m)
N_TR, N_VA = 9000, 2000
X = np.column_stack([
    rng.uniform(0.0, 1.2, N_TR + N_VA),
    rng.uniform(1.0, 6.0, N_TR + N_VA),
    rng.lognormal(3.2, 0.5, N_TR + N_VA),
    rng.uniform(50, 1200, N_TR + N_VA),
    rng.exponential(40, N_TR + N_VA),
]).astype(np.float32)
acc = (0.08 * X[:, 2] * X[:, 0] * np.exp(-X[:, 4] / 60.0) * (1 + 0.0006 * X[:, 3])
       + 0.4 * X[:, 1] * X[:, 0] ** 0.5)
NOISE = 0.5
y = (acc + NOISE * rng.standard_normal(len(acc))).astype(np.float32)
mu, sd = X[:N_TR].mean(0), X[:N_TR].std(0)
Xs = (X - mu) / sd
ym, ys = y[:N_TR].mean(), y[:N_TR].std()
yt = (y - ym) / ys
Xtr, ytr = mx.array(Xs[:N_TR]), mx.array(yt[:N_TR])
Xva, yva_mm = mx.array(Xs[N_TR:]), y[N_TR:]
baseline = float(np.sqrt(np.mean((yva_mm - ym) ** 2)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        x = x.astype(mx.bfloat16)
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1).astype(mx.float32)


model = Net()
model.set_dtype(mx.bfloat16)
mx.eval(model.parameters())

MASK = mx.array(0xFFFF0000, dtype=mx.uint32)


def to_bf16_stochastic(w32):
    bits = mx.view(w32, mx.uint32)
    noise = mx.random.randint(0, 1 << 16, w32.shape).astype(mx.uint32)
    return mx.view((bits + noise) & MASK, mx.float32).astype(mx.bfloat16)


def loss_fn(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


loss_and_grad = nn.value_and_grad(model, loss_fn)

B1, B2, EPS = 0.9, 0.999, 1e-8
m1 = tree_map(lambda p: mx.zeros(p.shape, mx.float32), model.trainable_parameters())
m2 = tree_map(lambda p: mx.zeros(p.shape, mx.float32), model.trainable_parameters())

EPOCHS, BS = 14, 128
steps_per_epoch = N_TR // BS
TOTAL = EPOCHS * steps_per_epoch
WARM = 300
PEAK = 2e-3


def lr_at(t):  # t = index of the update, first update gets lr 0
    if t < WARM:
        return PEAK * t / WARM
    frac = (t - WARM) / max(1, TOTAL - WARM)
    return 2e-5 + 0.5 * (PEAK - 2e-5) * (1 + math.cos(math.pi * frac))


def val_rmse_mm():
    pred = np.array(model(Xva)) * ys + ym
    return float(np.sqrt(np.mean((pred - yva_mm) ** 2)))


print("row,epoch,lr,train_mse_std,val_rmse_mm,mean_baseline_mm,noise_floor_mm,"
      "sub_half_ulp_updates_pct,weight_dtype")
print(f"data,0,,,{val_rmse_mm():.4f},{baseline:.4f},{NOISE:.3f},,"
      f"{model.l1.weight.dtype}")

t = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TR))
    tot, small, count = 0.0, 0.0, 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, g = loss_and_grad(model, Xtr[idx], ytr[idx])
        g = tree_map(lambda a: a.astype(mx.float32), g)
        if t == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            print(f"gradcheck,0,{lr_at(0):.1e},,,,,,leaves={len(leaves)} zero={zero or 'none'}")
        lr = lr_at(t)
        t += 1
        bc1, bc2 = 1 - B1 ** t, 1 - B2 ** t
        m1 = tree_map(lambda m, gg: B1 * m + (1 - B1) * gg, m1, g)
        m2 = tree_map(lambda v, gg: B2 * v + (1 - B2) * gg * gg, m2, g)
        params = model.trainable_parameters()
        step = tree_map(lambda m, v: lr * (m / bc1) / (mx.sqrt(v / bc2) + EPS), m1, m2)
        # share of element updates smaller than half a bf16 ulp of their weight
        ulp_small = [mx.sum(mx.abs(s) < mx.abs(p.astype(mx.float32)) * 2.0 ** -9)
                     for (_, s), (_, p) in zip(tree_flatten(step), tree_flatten(params))]
        new_p = tree_map(lambda p, s: to_bf16_stochastic(p.astype(mx.float32) - s), params, step)
        model.update(new_p)
        sm = sum(ulp_small)
        mx.eval(model.parameters(), m1, m2, loss, sm)
        tot += loss.item()
        small += sm.item()
        count += sum(v.size for _, v in tree_flatten(params))
    print(f"epoch,{ep},{lr:.2e},{tot / steps_per_epoch:.4f},{val_rmse_mm():.4f},"
          f"{baseline:.4f},{NOISE:.3f},{100 * small / count:.1f},{model.l1.weight.dtype}")

final = val_rmse_mm()
print(f"done,{EPOCHS},,,{final:.4f},{baseline:.4f},{NOISE:.3f},,{model.l1.weight.dtype}")
