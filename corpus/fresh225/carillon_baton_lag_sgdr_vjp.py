"""Carillon keyboard: how long after a baton press does the clapper strike?

Regress the strike lag (ms) from 8 console/transmission readings with a small
MLP.  Squareplus activation with a hand-written VJP, gradients all-summed over
the (single-process) distributed group, SGD+Nesterov under SGDR warm restarts.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1225)
mx.random.seed(1225)

FEATS = ["log10_mass_kg", "wire_m", "travel_mm", "press_mps", "temp_C",
         "spring_N", "pivot_wear", "console_hum"]


def make_bells(n):
    logm = rng.uniform(1.0, 3.95, n)
    wire = rng.uniform(1.0, 12.0, n)
    travel = rng.uniform(40.0, 80.0, n)
    vel = np.exp(rng.normal(np.log(0.6), 0.45, n))
    temp = rng.uniform(-5.0, 30.0, n)
    spring = rng.uniform(5.0, 25.0, n)
    wear = rng.beta(1.5, 4.0, n)
    hum = rng.normal(0.0, 1.0, n)  # irrelevant
    lag = (14.0 + 7.5 * logm ** 1.3 + 2.1 * wire + 0.030 * travel / vel
           + 0.045 * (20.0 - temp) * wire / 4.0 - 0.45 * spring
           + 22.0 * wear ** 2 * logm)
    noise = rng.normal(0.0, 2.5, n)
    spikes = rng.random(n) < 0.05
    noise[spikes] += rng.standard_t(2.5, spikes.sum()) * 8.0
    X = np.stack([logm, wire, travel, vel, temp, spring, wear, hum], 1)
    return X.astype(np.float32), (lag + noise).astype(np.float32)


Xtr, ytr = make_bells(6000)
Xva, yva = make_bells(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_s = mx.array((Xtr - mu) / sd)
Xva_s = mx.array((Xva - mu) / sd)
ytr_s = mx.array((ytr - ymu) / ysd)
yva_ms = mx.array(yva)

B_SQ = 4.0


@mx.custom_function
def squareplus(x):
    return 0.5 * (x + mx.sqrt(x * x + B_SQ))


@squareplus.vjp
def squareplus_vjp(x, cotangent, output):
    return cotangent * 0.5 * (1.0 + x / mx.sqrt(x * x + B_SQ))


def squareplus_ref(x):
    return 0.5 * (x + mx.sqrt(x * x + B_SQ))


class LagNet(nn.Module):
    def __init__(self, d_in, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = squareplus(self.l1(x))
        x = squareplus(self.l2(x))
        return self.out(x).squeeze(-1)


def huber(pred, y, delta=1.0):
    r = mx.abs(pred - y)
    return mx.mean(mx.where(r < delta, 0.5 * r * r, delta * (r - 0.5 * delta)))


model = LagNet(len(FEATS))
mx.eval(model.parameters())

# one-off check: hand-written VJP vs autodiff of the same formula
probe = mx.random.normal((257,)) * 3.0
g_custom = mx.grad(lambda t: squareplus(t).sum())(probe)
g_auto = mx.grad(lambda t: squareplus_ref(t).sum())(probe)
vjp_gap = mx.max(mx.abs(g_custom - g_auto)).item()

group = mx.distributed.init()
WORLD = group.size()

loss_and_grad = nn.value_and_grad(model, lambda m, x, y: huber(m(x), y))


def reduce_grads(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


ETA_MAX, ETA_MIN = 0.05, 5e-4
CYCLES = [4, 8, 16]
BATCH = 128
steps_per_epoch = math.ceil(Xtr_s.shape[0] / BATCH)

opt = optim.SGD(learning_rate=ETA_MAX, momentum=0.9, nesterov=True, weight_decay=1e-4)

base_mae = float(np.mean(np.abs(yva - np.median(ytr))))


def evaluate():
    pred = model(Xva_s) * ysd + ymu
    err = mx.abs(pred - yva_ms)
    return mx.mean(err).item(), 100.0 * mx.mean(err <= 5.0).item()


print(f"carillon strike-lag | world={WORLD} rank={group.rank()} | "
      f"squareplus vjp audit max|d|={vjp_gap:.2e} | train={Xtr.shape[0]} val={Xva.shape[0]}")
print(f"target: mean {ymu:.1f} ms, sd {ysd:.1f} ms")
hdr = f"{'cyc':>3} {'ep':>3} {'lr':>9} {'train_huber':>11} {'val_MAE_ms':>10} {'<=5ms_%':>8} {'median_MAE_ms':>13}"
print(hdr)
print("-" * len(hdr))

t0 = time.time()
best = (float("inf"), None)
epoch_global = 0
nonzero_checked = False
for c, T in enumerate(CYCLES, 1):
    for ep in range(1, T + 1):
        epoch_global += 1
        perm = mx.array(rng.permutation(Xtr_s.shape[0]))
        tot, nb = 0.0, 0
        for i in range(steps_per_epoch):
            t_cur = (ep - 1) + i / steps_per_epoch
            lr = ETA_MIN + 0.5 * (ETA_MAX - ETA_MIN) * (1 + math.cos(math.pi * t_cur / T))
            opt.learning_rate = lr
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = loss_and_grad(model, Xtr_s[idx], ytr_s[idx])
            grads = reduce_grads(grads)
            if not nonzero_checked:
                dead = [k for k, g in tree_flatten(grads) if mx.all(g == 0).item()]
                print(f"grad check: {len(tree_flatten(grads))} tensors, all-zero: {dead or 'none'}")
                nonzero_checked = True
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        mae, within = evaluate()
        if mae < best[0]:
            best = (mae, epoch_global)
        print(f"{c:>3} {ep:>3} {lr:>9.2e} {tot / nb:>11.4f} {mae:>10.2f} {within:>8.1f} {base_mae:>13.2f}")
    print(f"--- restart after cycle {c} ---" if c < len(CYCLES) else "--- schedule done ---")

mae, within = evaluate()
print(f"final val MAE {mae:.2f} ms ({within:.1f}% within 5 ms) vs median-guess {base_mae:.2f} ms; "
      f"best {best[0]:.2f} ms at epoch {best[1]}; {time.time() - t0:.1f}s")
