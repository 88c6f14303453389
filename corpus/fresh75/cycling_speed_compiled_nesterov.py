"""Road cycling: learn a rider's speed (km/h) from power, gradient, wind and
road surface (a made-up power/drag law).  Hand-written Nesterov SGD kept in a compiled
step with its state; linear warm-up from a learning rate of exactly 0.  Silent while
training, one summary table at the end."""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(2024)


def ride_log(n):
    power = rng.uniform(80, 420, n)               # watts
    grade = rng.uniform(-4, 9, n)                 # percent
    wind = rng.uniform(-20, 20, n)                # km/h head(+)/tail(-) wind
    rough = rng.uniform(0, 3, n)                  # surface: 0 smooth asphalt .. 3 gravel
    drops = (power > 250).astype(np.float64) * rng.integers(0, 2, n)   # riding in the drops
    flat = 5.2 * np.cbrt(power) * (1 + 0.08 * drops) - 0.22 * wind
    v = flat / (1 + 0.11 * np.maximum(grade, 0) ** 1.15) + 1.4 * np.maximum(-grade, 0)
    v = v - 0.9 * rough + rng.normal(0, 0.5, n)
    x = np.stack([power / 200, grade / 5, wind / 10, rough, drops], 1).astype(np.float32)
    return x, (np.maximum(v, 3) / 10).astype(np.float32)     # target in units of 10 km/h


class SpeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 80)
        self.l2 = nn.Linear(80, 80)
        self.out = nn.Linear(80, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


class NesterovSGD:
    """velocity kept as a plain dict tree next to the model."""

    def __init__(self, params, momentum=0.9, wd=1e-4):
        self.mu, self.wd = momentum, wd
        self.vel = tree_map(mx.zeros_like, params)

    def step(self, params, grads, lr):
        flat_p = dict(tree_flatten(params))
        flat_v = dict(tree_flatten(self.vel))
        new_p, new_v = {}, {}
        for k, g in tree_flatten(grads):
            g = g + self.wd * flat_p[k]
            v = self.mu * flat_v[k] + g
            new_v[k] = v
            new_p[k] = flat_p[k] - lr * (g + self.mu * v)
        self.vel.update(tree_unflatten(list(new_v.items())))   # in place: compiled state
        return tree_unflatten(list(new_p.items()))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def schedule(step, warm, total, peak):
    if step < warm:
        return peak * step / warm                 # 0 at step 0
    t = (step - warm) / max(1, total - warm)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


x_tr, y_tr = ride_log(20000)
x_va, y_va = ride_log(3000)
mean_y = 10 * float(y_tr.mean())
X_va, Y_va = mx.array(x_va), mx.array(y_va)

mx.random.seed(5)
model = SpeedNet()
mx.eval(model.parameters())
opt = NesterovSGD(model.trainable_parameters())
vg = nn.value_and_grad(model, loss_fn)

# one uncompiled look at the gradients before training
_, g0 = vg(model, mx.array(x_tr[:256]), mx.array(y_tr[:256]))
g_leaves = tree_flatten(g0)
g_zero = [k for k, v in g_leaves if float(mx.abs(v).max()) == 0.0]

state = [model.state, opt.vel]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y, lr):
    loss, grads = vg(model, x, y)
    model.update(opt.step(model.trainable_parameters(), grads, lr))
    return loss


def r2_pct(m):
    pred = m(X_va)
    ss_res = float(((pred - Y_va) ** 2).sum())
    ss_tot = float(((Y_va - Y_va.mean()) ** 2).sum())
    return 100 * (1 - ss_res / ss_tot), 10 * math.sqrt(ss_res / len(y_va))   # rmse back in km/h


rows = [("init", "-", "-", *r2_pct(model), 0.0)]
bs, epochs, peak = 64, 10, 0.02
steps_per_epoch = len(x_tr) // bs
total = epochs * steps_per_epoch
warm = 300
step = 0
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = rng.permutation(len(x_tr))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * bs:(b + 1) * bs]
        lr = schedule(step, warm, total, peak)
        loss = train_step(mx.array(x_tr[idx]), mx.array(y_tr[idx]), mx.array(lr, mx.float32))
        mx.eval(model.parameters(), opt.vel, loss)
        run += loss.item()
        step += 1
    rows.append((ep, "%.5f" % lr, "%.4f" % (run / steps_per_epoch), *r2_pct(model), time.time() - t0))

print("speed model: %d train / %d valid ride segments, mean speed %.2f km/h" % (len(x_tr), len(x_va), mean_y))
print("step-0 gradient: %d leaves, all-zero leaves: %s; first lr %.1f" % (len(g_leaves), g_zero, schedule(0, warm, total, peak)))
print("%-6s %-9s %-10s %-12s %-10s %-6s" % ("epoch", "lr_end", "mse(10kmh)", "explained%", "rmse_kmh", "secs"))
for ep, lr_s, tr, r2, rm, sec in rows:
    print("%-6s %-9s %-10s %-12.2f %-10.3f %-6.1f" % (ep, lr_s, tr, r2, rm, sec))
print("train mse is in units of (10 km/h)^2; label noise sd 0.50 km/h; explained% (R^2 as a percentage) is higher-is-better")
