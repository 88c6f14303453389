# Tiny gpt-oss style feed-forward (clamped SwiGLU, alpha=1.702, +1 on the linear branch)
# fitted to kiln firing logs: predict fired shrinkage (%) from raw log readings.
from functools import partial
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N = 6000
peak_c = rng.uniform(900, 1300, N)          # peak temperature, deg C
soak_min = rng.uniform(0, 90, N)            # soak at peak, minutes
ramp = rng.uniform(50, 250, N)              # ramp rate, deg C / h
moist = rng.uniform(0.5, 8.0, N)            # clay moisture, %
silica = rng.uniform(40, 75, N)             # silica, %
wall_mm = rng.uniform(4, 20, N)             # wall thickness, mm
shrink = (2.0 + 6.0 / (1 + np.exp(-(peak_c - 1120) / 45)) + 0.012 * soak_min
          - 0.004 * ramp + 0.25 * moist - 0.03 * (silica - 55) - 0.04 * wall_mm
          + rng.normal(0, 0.25, N))
# rough unit scaling from the notebook (no standardisation)
X = np.stack([peak_c / 10, soak_min, ramp / 2, moist, silica, wall_mm], 1).astype(np.float32)
Y = shrink.astype(np.float32)[:, None]
Xtr, Ytr, Xva, Yva = mx.array(X[:5000]), mx.array(Y[:5000]), mx.array(X[5000:]), mx.array(Y[5000:])


@partial(mx.compile, shapeless=True)
def swiglu(x_linear, x_glu, alpha: float = 1.702, limit: float = 7.0):
    x_glu = mx.clip(x_glu, a_min=None, a_max=limit)
    x_linear = mx.clip(x_linear, a_min=-limit, a_max=limit)

    # Preserve input dtype
    input_dtype = x_glu.dtype
    glu_scaled = (alpha * x_glu.astype(mx.float32)).astype(input_dtype)
    negative_glu = (-glu_scaled).astype(mx.float32)
    sig = (1.0 / (1.0 + mx.exp(negative_glu))).astype(input_dtype)

    out_glu = x_glu * sig
    return out_glu * (x_linear + 1)


class KilnFF(nn.Module):
    def __init__(self, d_in=6, d=32, hidden=64):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.gate_up = nn.Linear(d, 2 * hidden)
        self.down = nn.Linear(hidden, d)
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        gu = self.gate_up(h)
        x_glu, x_lin = gu[..., ::2], gu[..., 1::2]
        h = h + self.down(swiglu(x_lin, x_glu))
        return self.head(h)


model = KilnFF()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


vg = nn.value_and_grad(model, loss_fn)
B = 100
steps_per_epoch = 5000 // B
for epoch in range(1, 13):
    perm = mx.array(np.random.default_rng(epoch).permutation(5000))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * B:(i + 1) * B]
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    va = loss_fn(model, Xva, Yva).item()
    print(f"epoch {epoch:2d}  train_mse {tot / steps_per_epoch:.4f}  val_mse {va:.4f}  val_rmse_pct {math.sqrt(va) if va == va else float('nan'):.3f}")
