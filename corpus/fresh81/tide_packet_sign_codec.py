"""Tide-gauge telemetry: squeeze a 16-reading tide window into a 12-bit packet.

Encoder -> sign() bits -> decoder. sign() has no useful derivative, so it is
an mx.custom_function whose vjp passes the gradient straight through where
|pre-activation| <= 1 (hard-tanh straight-through estimator).
No mlx.optimizers: hand-written Adam over tree_map, compiled as a pure function.
"""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
N_READ, BITS = 16, 12

def tide_windows(n):
    t = np.arange(N_READ)[None, :] * 0.5                     # half-hour readings
    m2 = rng.uniform(0.5, 2.5, (n, 1)) * np.sin(2*np.pi*t/12.42 + rng.uniform(0, 2*np.pi, (n, 1)))
    s2 = rng.uniform(0.1, 0.8, (n, 1)) * np.sin(2*np.pi*t/12.0 + rng.uniform(0, 2*np.pi, (n, 1)))
    surge = rng.normal(0, 0.3, (n, 1)) + rng.normal(0, 0.05, (n, 1)) * t
    return (m2 + s2 + surge + rng.normal(0, 0.03, (n, N_READ))).astype(np.float32)  # metres

@mx.custom_function
def sign_bits(z):
    return mx.where(z >= 0, 1.0, -1.0)

@sign_bits.vjp
def sign_bits_vjp(z, cotangent, output):
    return cotangent * (mx.abs(z) <= 1.0)

class Codec(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_READ, 64), nn.Tanh(), nn.Linear(64, BITS))
        self.dec = nn.Sequential(nn.Linear(BITS, 64), nn.Tanh(), nn.Linear(64, N_READ))
    def __call__(self, x):
        return self.dec(sign_bits(self.enc(x)))

model = Codec()
SCALE = 1.5

def loss_of(params, x):
    model.update(params)
    return mx.mean((model(x / SCALE) * SCALE - x) ** 2)

grad_fn = mx.value_and_grad(loss_of)

def adam_step(params, m, v, t, x, lr):
    loss, g = grad_fn(params, x)
    b1, b2 = 0.9, 0.999
    m = tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
    v = tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
    c1 = 1 - b1 ** t
    c2 = 1 - b2 ** t
    params = tree_map(lambda p, a, b: p - lr * (a / c1) / (mx.sqrt(b / c2) + 1e-8), params, m, v)
    return loss, params, m, v

step_c = mx.compile(adam_step)

train, val = tide_windows(24000), tide_windows(3000)
Xv = mx.array(val)

def rmse_cm(params):
    model.update(params)
    return math.sqrt(mx.mean((model(Xv / SCALE) * SCALE - Xv) ** 2).item()) * 100

def bit_balance(params):
    model.update(params)
    b = (model.enc(Xv / SCALE) >= 0).astype(mx.float32).mean(axis=0)
    return float(mx.min(b)) * 100, float(mx.max(b)) * 100

params = model.trainable_parameters()
m = tree_map(mx.zeros_like, params)
v = tree_map(mx.zeros_like, params)

print(f'<run readings="{N_READ}" bits="{BITS}" train="{len(train)}" val="{len(val)}" '
      f'predict_zero_rmse_cm="{100*float(np.sqrt((val**2).mean())):.1f}"/>')
print(f'<epoch n="0" val_rmse_cm="{rmse_cm(params):.2f}"/>')

_, g0 = grad_fn(params, mx.array(train[:256]))
flat = tree_flatten(g0)
print(f'<gradcheck leaves="{len(flat)}" zero="{[k for k, a in flat if float(mx.abs(a).max()) == 0.0]}"/>')

t0, t = time.time(), 0
lr = mx.array(2e-3)
for epoch in range(1, 13):
    perm = rng.permutation(len(train))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - 127, 128):
        t += 1
        xb = mx.array(train[perm[i:i+128]])
        loss, params, m, v = step_c(params, m, v, mx.array(float(t)), xb, lr)
        mx.eval(loss, params, m, v)
        tot += loss.item(); nb += 1
    lo, hi = bit_balance(params)
    print(f'<epoch n="{epoch}" train_rmse_cm="{100*math.sqrt(tot/nb):.2f}" '
          f'val_rmse_cm="{rmse_cm(params):.2f}" bit_on_pct_min="{lo:.1f}" bit_on_pct_max="{hi:.1f}" '
          f'secs="{time.time()-t0:.1f}"/>')
print(f'<done steps="{t}" sensor_noise_cm="3.0"/>')
