# Fit a reference gravimeter's raw counts from three cheap sensors (raw ADC counts ~1e6).
# Inputs/targets are standardised with dataset statistics; skill is reported as R^2.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N = 8192
OFFSET = 1.0e6


def make_split(n):
    z = rng.standard_normal((n, 3)).astype(np.float32)
    raw = OFFSET + 10.0 * z + rng.standard_normal((n, 3)).astype(np.float32) * 0.5
    sig = np.tanh(z[:, 0]) * 1.5 + 0.8 * z[:, 1] * z[:, 2] + 0.6 * z[:, 2]
    y = OFFSET + 10.0 * sig + 3.0 * rng.standard_normal(n).astype(np.float32)
    return mx.array(raw.astype(np.float32)), mx.array(y.astype(np.float32)[:, None])


def stats(a):
    return mx.mean(a, axis=0), mx.std(a, axis=0)


def variance(a):
    return mx.var(a)


x_tr, y_tr = make_split(N)
x_te, y_te = make_split(N)
x_mu, x_sd = stats(x_tr)
y_mu, y_sd = stats(y_tr)
print(f"train stats: y_mean-1e6={float(y_mu[0]) - OFFSET:+.3f} counts  y_std={float(y_sd[0]):.3f} counts")

xn_tr = (x_tr - x_mu) / x_sd
yn_tr = (y_tr - y_mu) / y_sd
xn_te = (x_te - x_mu) / x_sd

model = nn.Sequential(nn.Linear(3, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
perm = np.arange(N)
step = 0
for epoch in range(12):
    rng.shuffle(perm)
    for i in range(0, N, 512):
        idx = mx.array(perm[i:i + 512])
        loss, grads = step_fn(model, xn_tr[idx], yn_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    pred = model(xn_te) * y_sd + y_mu
    mse = mx.mean((pred - y_te) ** 2)
    r2 = 1.0 - mse / variance(y_te)
    print(f"epoch {epoch:2d} step {step:4d} train_mse_norm={float(loss):.4f} "
          f"test_rmse={float(mx.sqrt(mse)):.3f} counts  R2={float(r2):.4f}")

print(f"final: test_rmse={float(mx.sqrt(mse)):.3f} counts  baseline_rmse(std y_test)={float(mx.sqrt(variance(y_te))):.3f}  "
      f"R2={float(r2):.4f}  ({time.time() - t0:.1f}s)")
