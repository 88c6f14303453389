"""Indigo dye house QA: predict CIELAB lightness L* of cotton yarn after vat dyeing
from vat readings.  Lion + linear warm-up from lr=0, then SGDR cycles (each restart
kicks the loss up on purpose); early stopping with restore of the best weights."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(125)


def vat_records(n):
    indigo = rng.uniform(1.0, 4.0, n)       # g/L reduced indigo
    ph = rng.uniform(10.8, 12.2, n)         # vat pH
    redox = rng.uniform(-850, -650, n)      # mV vs Ag/AgCl
    dips = rng.integers(1, 9, n).astype(float)
    dip_s = rng.uniform(20.0, 90.0, n)      # seconds per dip
    air_min = rng.uniform(1.0, 6.0, n)      # oxidation minutes between dips
    depth = (np.log1p(dips) * (0.8 + 0.5 * indigo) * (1.0 - 0.9 * (ph - 11.3) ** 2)
             + 0.004 * (-redox - 750) + 0.15 * np.log(dip_s) + 0.25 * np.tanh(air_min - 2.5))
    lstar = 78.0 - 11.0 * depth + rng.normal(0.0, 0.9, n)   # darker = lower L*
    x = np.stack([indigo, ph, redox, dips, dip_s, air_min], 1)
    return x.astype(np.float32), lstar.astype(np.float32)


xtr, ytr = vat_records(6000)
xva, yva = vat_records(600)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ztr = mx.array((ytr - ymu) / ysd)
Yva = mx.array(yva)
baseline_mae = float(np.abs(yva - ymu).mean())   # "always the average shade" guess


class ShadeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


model = ShadeNet()
mx.eval(model.parameters())


def loss_fn(m, x, z):
    return mx.mean((m(x) - z) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)

# every parameter must receive gradient
_, g0 = grad_fn(model, Xtr[:256], Ztr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, zero-grad tensors: {zero or 'none'}")

PEAK = 6e-4
WARM = 60
CYCLES = [300, 600, 1200]


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # starts at exactly 0.0
    s = step - WARM
    for c in CYCLES:
        if s < c:
            return 0.5 * PEAK * (1.0 + math.cos(math.pi * s / c))
        s -= c
    return 0.0


TOTAL = WARM + sum(CYCLES)
opt = optim.Lion(learning_rate=0.0, weight_decay=0.01)
BS = 64
n = Xtr.shape[0]


def val_mae():
    pred = model(Xva) * ysd + ymu
    return float(mx.mean(mx.abs(pred - Yva)))


print(f"{'ep':>3} {'step':>5} {'lr':>9} {'trainMSE(z)':>11} {'valMAE':>9} {'meanMAE':>9} note")
print("-" * 62)
best, best_ep, best_params = float("inf"), -1, None
patience, bad = 7, 0
step, ep = 0, 0
t0 = time.time()
while step < TOTAL:
    ep += 1
    perm = mx.array(rng.permutation(n))
    tot, cnt = 0.0, 0
    for i in range(0, n - BS + 1, BS):
        if step >= TOTAL:
            break
        opt.learning_rate = lr_at(step)
        idx = perm[i:i + BS]
        loss, grads = grad_fn(model, Xtr[idx], Ztr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        cnt += 1
        step += 1
    v = val_mae()
    note = ""
    if v < best - 1e-3:
        best, best_ep, bad = v, ep, 0
        best_params = tree_map(lambda a: a, model.parameters())
        note = "*"
    else:
        bad += 1
    print(f"{ep:>3} {step:>5} {lr_at(step - 1):>9.2e} {tot / max(cnt, 1):>11.4f} "
          f"{v:>6.3f}L* {baseline_mae:>6.3f}L* {note}")
    if bad >= patience:
        print(f"early stop at epoch {ep}: no val gain for {patience} epochs")
        break

model.update(best_params)
mx.eval(model.parameters())
final = val_mae()
print("-" * 62)
print(f"restored epoch {best_ep}: val MAE {final:.3f} L* (best seen {best:.3f}), "
      f"mean-guess MAE {baseline_mae:.3f} L*, noise-floor MAE {0.9 * math.sqrt(2 / math.pi):.3f} L*, "
      f"skill {100 * (1 - final / baseline_mae):.1f}%")
print(f"steps {step}, wall {time.time() - t0:.1f}s")
