"""Cycle-rickshaw fare estimator for a small stand near the old bazaar.

Regress the fare (rupees) of a trip from 7 trip-sheet readings. Small MLP with a
hand-written softsign activation whose backward pass is a custom VJP, RMSprop,
and SGDR warm restarts (the learning rate jumps back up at each restart, so the
loss bumps up before it settles again). Progress is printed tqdm-style.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

N_TRAIN, N_VAL = 2400, 600
FEATS = ["km", "climb_m", "riders", "bags", "rain", "night", "tourist"]


def make_trips(n, key):
    k = mx.random.split(key, 8)
    km = mx.random.uniform(0.3, 6.0, (n,), key=k[0])
    climb = mx.random.uniform(0.0, 40.0, (n,), key=k[1])
    riders = mx.random.randint(1, 4, (n,), key=k[2]).astype(mx.float32)
    bags = mx.random.randint(0, 3, (n,), key=k[3]).astype(mx.float32)
    rain = (mx.random.uniform(shape=(n,), key=k[4]) < 0.2).astype(mx.float32)
    night = (mx.random.uniform(shape=(n,), key=k[5]) < 0.3).astype(mx.float32)
    tourist = (mx.random.uniform(shape=(n,), key=k[6]) < 0.25).astype(mx.float32)
    fare = (25 + 17 * km + 0.35 * climb * riders + 6 * bags + 12 * rain
            + 18 * night * (1 + 0.2 * km))
    fare = fare * (1 + 0.35 * tourist)
    fare = fare + 4.0 * mx.random.normal((n,), key=k[7])
    X = mx.stack([km, climb, riders, bags, rain, night, tourist], axis=1)
    return X, fare


X_tr, y_tr = make_trips(N_TRAIN, mx.random.key(1))
X_va, y_va = make_trips(N_VAL, mx.random.key(2))
mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-6
X_tr, X_va = (X_tr - mu) / sd, (X_va - mu) / sd
Y_SCALE = 100.0  # train on fare / 100


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(x, cotangent, output):
    return cotangent / mx.square(1 + mx.abs(x))


class FareNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = softsign(self.l1(x))
        h = softsign(self.l2(h))
        return self.out(h).squeeze(-1)


model = FareNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean(mx.square(m(x) - y / Y_SCALE))


loss_and_grad = nn.value_and_grad(model, loss_fn)

LR_MAX, LR_MIN = 4e-3, 2e-5
CYCLES = [300, 600, 1200]  # SGDR with T_mult = 2
BATCH = 128
opt = optim.RMSprop(learning_rate=LR_MAX, alpha=0.95)


def sgdr_lr(t, T):
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t / T))


def bar(frac, width=20):
    full = int(frac * width)
    return "#" * full + "." * (width - full)


def val_mae():
    return mx.mean(mx.abs(model(X_va) * Y_SCALE - y_va)).item()


# audit the hand-written VJP against plain autodiff once before training
probe = mx.linspace(-4, 4, 17)
g_custom = mx.grad(lambda z: softsign(z).sum())(probe)
g_auto = mx.grad(lambda z: (z / (1 + mx.abs(z))).sum())(probe)
print(f"vjp-audit: max|custom-auto| = {mx.max(mx.abs(g_custom - g_auto)).item():.2e} over 17 probes")

baseline_mae = mx.mean(mx.abs(y_va - y_tr.mean())).item()
print(f"reference: predict-the-mean MAE = {baseline_mae:.1f} Rs  (val, n={N_VAL})")

step = 0
t0 = time.perf_counter()
for c, T in enumerate(CYCLES, 1):
    run = 0.0
    for t in range(T):
        opt.learning_rate = sgdr_lr(t, T)
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss, grads = loss_and_grad(model, X_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = 0.9 * run + 0.1 * loss.item() if t else loss.item()
        step += 1
        if (t + 1) % (T // 4) == 0:
            el = time.perf_counter() - t0
            print(f"cycle {c}/{len(CYCLES)}: {100*(t+1)//T:3d}%|{bar((t+1)/T)}| {t+1}/{T} "
                  f"[{el:4.1f}s, mse={run:.4f}, lr={opt.learning_rate.item():.2e}]")
    gn = math.sqrt(sum(mx.sum(g * g).item() for _, g in tree_flatten(grads)))
    print(f"  end of cycle {c}: val MAE {val_mae():6.2f} Rs (mean-guess {baseline_mae:.1f}) | last grad-norm {gn:.3f}")

final = val_mae()
print(f"done: {step} steps, val MAE {final:.2f} Rs, {100*final/baseline_mae:.1f}% of mean-guess error")
