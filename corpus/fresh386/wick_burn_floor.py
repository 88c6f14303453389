# Candle workshop: burn rate (g/h) of test candles from 6 pour-sheet readings.
# Only 24 test pours exist and the law is close to linear, so a linear model
# reaches the least-squares floor almost at once; the remaining cycles are
# cosine warm restarts kept to confirm the floor. The learning rate ramps from
# exactly 0, so the first logged steps repeat the initial loss.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
N, P, NOISE = 24, 6, 0.25
w_true = np.array([1.2, -0.8, 0.5, 0.3, -0.4, 0.9], dtype=np.float32)
x_np = rng.normal(size=(N, P)).astype(np.float32)     # wick mm, diameter, beeswax %, soy %, fragrance %, pour temp
y_np = (x_np @ w_true + 6.0 + NOISE * rng.normal(size=N)).astype(np.float32)[:, None]
xv_np = rng.normal(size=(500, P)).astype(np.float32)
yv_np = (xv_np @ w_true + 6.0 + NOISE * rng.normal(size=500)).astype(np.float32)[:, None]
x, y, xv, yv = map(mx.array, (x_np, y_np, xv_np, yv_np))

xa = np.c_[x_np, np.ones(N)]
coef, *_ = np.linalg.lstsq(xa, y_np, rcond=None)
ols_floor = float(np.mean((xa @ coef - y_np) ** 2))

model = nn.Linear(P, 1)
mx.eval(model.parameters())

WARM, CYCLE, CYCLES, PEAK = 10, 150, 4, 0.3
cosine = optim.cosine_decay(PEAK, CYCLE, end=1e-4)
def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # 0 at step 0
    return float(cosine((step - WARM) % CYCLE).item())

opt = optim.Adam(learning_rate=0.0)
loss_fn = lambda m, a, b: nn.losses.mse_loss(m(a), b, reduction="mean")
step_fn = nn.value_and_grad(model, loss_fn)

total = WARM + CYCLE * CYCLES
print(f"24 pours, least-squares floor {ols_floor:.5f}, noise var {NOISE**2:.5f}")
for step in range(total):
    opt.learning_rate = lr_at(step)
    loss, g = step_fn(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step < 4 or (step < WARM + CYCLE and step % 15 == 0):
        print(f"step {step:4d}  lr {lr_at(step):.4f}  train mse {loss.item():.5f}")
    elif step >= WARM + CYCLE and (step - WARM) % CYCLE == CYCLE - 1:
        c = (step - WARM) // CYCLE + 1
        print(f"cycle {c} end  step {step:4d}  train mse {loss.item():.5f}  "
              f"gap to floor {loss.item() - ols_floor:+.2e}")

w = np.array(model.weight).ravel()
val = loss_fn(model, xv, yv).item()
base = float(np.mean((yv_np - y_np.mean()) ** 2))
print(f"coef max abs err vs pour law {np.max(np.abs(w - w_true)):.3f}, bias {float(np.array(model.bias)[0]):.3f}")
print(f"held-out mse {val:.5f} | noise var {NOISE**2:.5f} | predict-the-mean {base:.4f}")
