"""Limekiln burn log: predict how much of the charged limestone came out as
quicklime (percent CaO conversion) from the burn record. Compiled step, a
hand-written VJP for the activation, SGD with Nesterov and warm restarts."""
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rs = np.random.RandomState(7340)
mx.random.seed(7340)

N = 7000
peak_c = rs.uniform(820, 1150, N)          # peak charge temperature, C
hours = rs.uniform(8, 60, N)               # hours at temperature
stone_mm = rs.uniform(20, 160, N)          # mean stone size, mm
fuel_moist = rs.uniform(5, 35, N)          # fuel moisture, %
draught_pa = rs.uniform(5, 40, N)          # draught at the eye, Pa
purity = rs.uniform(0.86, 0.99, N)         # CaCO3 fraction of the stone

T_k = peak_c + 273.15
rate = 2.2e7 * np.exp(-19500.0 / T_k) * (1 + 0.012 * draught_pa) / (stone_mm / 40.0)
rate *= 1.0 - 0.008 * fuel_moist
conv = 100.0 * purity * (1.0 - np.exp(-rate * hours / 10.0))
conv += rs.normal(0, 1.2, N)               # assay noise, percentage points
conv = np.clip(conv, 0, 100)

X_raw = np.stack([peak_c, hours, np.log(stone_mm), fuel_moist, draught_pa, purity], 1)
mu, sd = X_raw.mean(0), X_raw.std(0)
Xn = ((X_raw - mu) / sd).astype(np.float32)
y_mu, y_sd = conv.mean(), conv.std()
yn = ((conv - y_mu) / y_sd).astype(np.float32)

Xtr, ytr = mx.array(Xn[:5800]), mx.array(yn[:5800])
Xva, yva = mx.array(Xn[5800:]), mx.array(yn[5800:])
ref_rmse = float(np.sqrt(np.mean((conv[5800:] - conv[:5800].mean()) ** 2)))


@mx.custom_function
def swish(x):
    return x * mx.sigmoid(x)


@swish.vjp
def swish_vjp(x, cotangent, output):
    s = mx.sigmoid(x)
    return cotangent * (s + x * s * (1 - s))


class BurnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 1)

    def __call__(self, x):
        return self.c(swish(self.b(swish(self.a(x))))).squeeze(-1)


net = BurnNet()

# the hand-written vjp must match autodiff of the same formula
xt = mx.linspace(-4, 4, 33)
g_custom = mx.grad(lambda v: swish(v).sum())(xt)
g_auto = mx.grad(lambda v: (v * mx.sigmoid(v)).sum())(xt)
print(f"vjp audit  max|d| = {float(mx.max(mx.abs(g_custom - g_auto))):.2e}")


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


cycles = [100, 200, 400]           # SGDR: each cycle twice as long, lr jumps back up
lr_hi, lr_lo = 0.08, 0.0005
sched = optim.join_schedules(
    [optim.cosine_decay(lr_hi, c, lr_lo) for c in cycles],
    list(np.cumsum(cycles)[:-1]))
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
state = [net.state, opt.state]

lg = nn.value_and_grad(net, mse)
_, g_check = lg(net, Xtr[:128], ytr[:128])
dead = [k for k, g in tree_flatten(g_check) if float(mx.abs(g).max()) == 0.0]
print(f"params with zero grad: {dead if dead else 'none'}")


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = lg(net, xb, yb)
    opt.update(net, grads)
    return loss


def val_rmse_pp():
    pred = net(Xva)
    return float(mx.sqrt(mx.mean((pred - yva) ** 2))) * y_sd


BATCH = 256
ntr = Xtr.shape[0]
print(f"{'cyc':>3} {'step':>5} {'lr':>9} {'train mse(z)':>13} {'val rmse pp':>12} {'mean-guess pp':>14}")
print("-" * 62)
g = 0
t0 = time.time()
best = math.inf
for ci, clen in enumerate(cycles):
    for s in range(clen):
        idx = mx.array(rs.randint(0, ntr, BATCH))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        lr_now = float(opt.learning_rate)  # the rate this update used
        g += 1
        if s % 40 == 0 or s == clen - 1:
            vr = val_rmse_pp()
            best = min(best, vr)
            print(f"{ci:>3} {s:>5} {lr_now:>9.5f} {float(loss):>13.4f} {vr:>12.3f} {ref_rmse:>14.3f}")
    print(f"--- restart after cycle {ci} (len {clen}) ---")

final = val_rmse_pp()
print(f"done {g} steps in {time.time() - t0:.1f}s | val rmse {final:.2f} pp "
      f"(best {best:.2f}) vs mean-guess {ref_rmse:.2f} pp | "
      f"R2 {1 - (final / ref_rmse) ** 2:.3f}")
