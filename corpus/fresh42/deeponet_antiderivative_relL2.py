# DeepONet: learn the antiderivative operator G(u)(y) = int_0^y u(s) ds
# from random trigonometric input functions sampled at 32 fixed sensors.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SENSORS = 32
P = 32
K = 4
rng = np.random.default_rng(7)
xs = np.linspace(0.0, 1.0, SENSORS).astype(np.float32)


def make_functions(n):
    a = rng.normal(0, 1, (n, K)).astype(np.float32)
    c = rng.normal(0, 1, (n, K)).astype(np.float32)
    return a, c


def u_at(a, c, x):
    k = np.arange(1, K + 1, dtype=np.float32) * math.pi
    return (a[:, None, :] * np.sin(k * x[None, :, None]) + c[:, None, :] * np.cos(k * x[None, :, None])).sum(-1)


def G_at(a, c, y):
    k = np.arange(1, K + 1, dtype=np.float32) * math.pi
    yy = y[..., None]
    return (a[:, None, :] * (1 - np.cos(k * yy)) / k + c[:, None, :] * np.sin(k * yy) / k).sum(-1)


class DeepONet(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(SENSORS, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, P))
        self.trunk = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, P))
        self.b0 = mx.zeros((1,))

    def __call__(self, u, y):
        b = self.branch(u)                    # (B, P)
        t = self.trunk(y[..., None])          # (B, Q, P)
        return (b[:, None, :] * t).sum(-1) + self.b0


def mse(model, u, y, g):
    return mx.mean(mx.square(model(u, y) - g))


# data
A_tr, C_tr = make_functions(800)
U_tr = u_at(A_tr, C_tr, xs)
A_va, C_va = make_functions(200)
U_va = mx.array(u_at(A_va, C_va, xs))
y_grid = np.tile(np.linspace(0, 1, 50, dtype=np.float32), (200, 1))
G_va = mx.array(G_at(A_va, C_va, y_grid))
Y_va = mx.array(y_grid)

mx.random.seed(0)
model = DeepONet()
mx.eval(model.parameters())
sched = optim.exponential_decay(1e-3, 0.9995)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, mse)


def batch(bs=32, q=40):
    idx = rng.integers(0, 800, bs)
    y = rng.uniform(0, 1, (bs, q)).astype(np.float32)
    g = G_at(A_tr[idx], C_tr[idx], y)
    return mx.array(U_tr[idx]), mx.array(y), mx.array(g)


# gradient sanity check at step 0
u, y, g = batch()
_, grads0 = vg(model, u, y, g)
zero = [k for k, v in tree_flatten(grads0) if float(mx.abs(v).max()) == 0.0]
print(f"first-step grad leaves: {len(tree_flatten(grads0))}, all-zero: {zero or 'none'}")


def rel_l2():
    pred = model(U_va, Y_va)
    num = mx.sqrt(mx.sum(mx.square(pred - G_va), axis=1))
    den = mx.sqrt(mx.sum(mx.square(G_va), axis=1))
    return float(mx.mean(num / den))


line = "+" + "-" * 8 + "+" + "-" * 12 + "+" + "-" * 12 + "+" + "-" * 10 + "+"
print(line)
print(f"|{'iter':>7} |{'train_mse':>11} |{'val_relL2':>11} |{'lr':>9} |")
print(line)
t0 = time.time()
acc, n = 0.0, 0
for it in range(1, 1801):
    u, y, g = batch()
    loss, grads = vg(model, u, y, g)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    acc += loss.item(); n += 1
    if it % 200 == 0:
        print(f"|{it:7d} |{acc / n:11.5f} |{rel_l2():11.4f} |{float(opt.learning_rate):9.2e} |")
        acc, n = 0.0, 0
print(line)
print(f"wall {time.time() - t0:.1f}s; val relative L2 of zero predictor = 1.0")
