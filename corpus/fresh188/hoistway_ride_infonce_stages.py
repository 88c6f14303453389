"""Re-identify elevator cars from ride vibration snippets (contrastive, MLX).

Two rides of the same car should map close together; rides of different cars apart.
Stage 'offpeak' has light passenger load; stage 'rushhour' adds heavy, variable load
(shifts the rope resonance and adds more noise), so the task gets harder.
"""
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CARS, T, BATCH = 48, 96, 24
rng = np.random.default_rng(7)
# per-car signature: two resonance frequencies, damping, rail-joint bump phase
f1 = rng.uniform(3.0, 9.0, N_CARS)
f2 = rng.uniform(10.0, 20.0, N_CARS)
a2 = rng.uniform(0.3, 1.0, N_CARS)
bump_every = rng.integers(9, 17, N_CARS)
tt = np.arange(T) / T


def ride(cars, noise, load_shift):
    n = len(cars)
    load = rng.uniform(0, load_shift, (n, 1))
    ph1, ph2 = rng.uniform(0, 2 * np.pi, (2, n, 1))
    x = np.sin(2 * np.pi * (f1[cars, None] * (1 - load)) * tt + ph1)
    x += a2[cars, None] * np.sin(2 * np.pi * f2[cars, None] * tt + ph2)
    off = rng.integers(0, 16, n)
    for i, c in enumerate(cars):
        x[i, (off[i] + np.arange(0, T, bump_every[c])) % T] += 1.5
    x += noise * rng.standard_normal((n, T))
    spec = np.abs(np.fft.rfft(x, axis=1))[:, 1:41]
    return mx.array(np.log1p(spec).astype(np.float32))


@mx.custom_function
def unit_norm(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-8)


@unit_norm.vjp
def unit_norm_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    r = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-8)
    y = output
    return (cotangent - y * mx.sum(y * cotangent, axis=-1, keepdims=True)) / r


class RideEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(40, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 32)

    def __call__(self, s):
        s = (s - 1.0)
        h = nn.gelu(self.l1(s))
        h = nn.gelu(self.l2(h)) + h
        return unit_norm(self.out(h))


def nce(model, a, b, tau):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / tau
    labels = mx.arange(a.shape[0])
    loss = 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))
    top1 = mx.mean((mx.argmax(logits, axis=1) == labels).astype(mx.float32))
    return loss, top1


def retrieval(model, noise, load_shift):
    cars = np.arange(N_CARS)
    za, zb = model(ride(cars, noise, load_shift)), model(ride(cars, noise, load_shift))
    hit = mx.argmax(za @ zb.T, axis=1) == mx.arange(N_CARS)
    return 100.0 * mx.mean(hit.astype(mx.float32)).item()


def bar(name, i, n, t0, **kv):
    frac = i / n
    done = int(10 * frac)
    el = time.time() - t0
    extra = " ".join(f"{k}={v}" for k, v in kv.items())
    sys.stdout.write(f"{name:>8}: {100*frac:3.0f}%|{'#'*done}{' '*(10-done)}| {i}/{n} [{el:05.1f}s] {extra}\n")


model = RideEncoder()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, lambda m, a, b, tau: nce(m, a, b, tau))

# check every weight gets gradient once before training
a0 = ride(rng.choice(N_CARS, BATCH, replace=False), 0.3, 0.0)
(_, _), g0 = grad_fn(model, a0, a0 + 0.01, 0.2)
from mlx.utils import tree_flatten
gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
print("grad audit:", "all nonzero" if min(gn.values()) > 0 else gn)

stages = [("offpeak", 0.4, 0.0, 180), ("rushhour", 0.8, 0.08, 420)]
chance = 100.0 / N_CARS
for name, noise, load_shift, steps in stages:
    # warm restart: each stage ramps the learning rate up from exactly 0
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, 40), optim.cosine_decay(0.08, steps - 40, 0.004)], [40])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    print(f"-- stage {name}: noise {noise}, load shift {load_shift*100:.0f}% | before: top1 {retrieval(model, noise, load_shift):.1f}% (chance {chance:.1f}%)")
    t0 = time.time()
    win_l, win_a = [], []
    for i in range(1, steps + 1):
        cars = rng.choice(N_CARS, BATCH, replace=False)
        a, b = ride(cars, noise, load_shift), ride(cars, noise, load_shift)
        (loss, top1), grads = grad_fn(model, a, b, 0.15)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, top1)
        win_l.append(loss.item())
        win_a.append(top1.item())
        if i % 30 == 0 or i == 1:
            bar(name, i, steps, t0, nce=f"{np.mean(win_l):.3f}", top1=f"{100*np.mean(win_a):.1f}%",
                lr=f"{opt.learning_rate.item():.4f}")
            win_l, win_a = [], []
    print(f"-- stage {name} done: held-out rides top1 {retrieval(model, noise, load_shift):.1f}% (chance {chance:.1f}%)")
