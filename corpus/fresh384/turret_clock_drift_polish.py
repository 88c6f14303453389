# Turret-clock rate model: daily rate error (s/day) of a tower clock from
# seven maintenance-log readings. Stage A: minibatch AdamW in float32.
# Stage B: full-batch gradient descent in float64 with a very small step.
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

t0 = time.time()
rng = np.random.default_rng(11)
N_TR, N_VA, NOISE = 12000, 3000, 0.30


def make(n):
    temp = rng.normal(8.0, 7.0, n)            # C in the clock room
    hum = rng.uniform(35, 95, n)              # % RH
    baro = rng.normal(1013, 9, n)             # hPa
    oil = rng.uniform(0, 540, n)              # days since oiling
    dlen = rng.normal(0.0, 0.25, n)           # pendulum length offset, mm
    wind = rng.gamma(2.0, 3.0, n)             # m/s on the dial hands
    bob = rng.normal(0.0, 1.0, n)             # bob-mass trim setting
    rate = (-0.43 * (temp - 8.0) / 7.0 * 2.1 - 3.4 * dlen
            + 0.9 * np.tanh((oil - 300) / 120) + 0.012 * (baro - 1013)
            + 0.35 * np.sin(hum / 12.0) - 0.04 * wind ** 1.3
            + 0.25 * bob * np.tanh(wind / 6.0))
    y = rate + rng.normal(0, NOISE, n)
    x = np.stack([temp, hum, baro, oil, dlen, wind, bob], 1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make(N_TR)
xva, yva = make(N_VA)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr = mx.array((xtr - mu) / sd)
Xva = mx.array((xva - mu) / sd)
Ytr = mx.array((ytr - ym) / ys)[:, None]
Yva = mx.array((yva - ym) / ys)[:, None]


class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def val_rmse_s(model, x=Xva, y=Yva):
    return float(mx.sqrt(mx.mean((model(x) - y) ** 2))) * float(ys)


mx.random.seed(5)
model = RateNet()
mx.eval(model.parameters())

WARM, STEPS, BS = 150, 1500, 128
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, g)
    return loss


print(" TURRET CLOCK RATE MODEL")
print(f" ROWS TRAIN {N_TR:6d}  VALID {N_VA:6d}  SENSOR NOISE {NOISE:5.2f} S/DAY"
      f"  PREDICT-MEAN RMSE {float(yva.std()):6.3f} S/DAY")
loss0, g0 = nn.value_and_grad(model, mse)(model, Xtr[:BS], Ytr[:BS])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f" GRAD CHECK  LEAVES {len(leaves):2d}  ZERO {zero}  DTYPE {leaves[0][1].dtype}"
      f"  LOSS0 {float(loss0):.4f}")
print(" STAGE A  FLOAT32 MINIBATCH ADAMW")
print("   STEP          LR            TRAIN_MSE      VALID_RMSE_S")
perm = np.array([], dtype=np.int64)
run = 0.0
for it in range(1, STEPS + 1):
    if len(perm) < BS:
        perm = np.concatenate([perm, rng.permutation(N_TR)])
    idx, perm = perm[:BS], perm[BS:]
    ii = mx.array(idx)
    lr_now = float(opt.learning_rate)
    loss = step(Xtr[ii], Ytr[ii])
    mx.eval(state, loss)
    run += float(loss)
    if it == 1 or it % 150 == 0:
        n = 1 if it == 1 else 150
        print(f" {it:6d}  {lr_now:16.9E}  {run / n:14.7E}  {val_rmse_s(model):14.7E}")
        run = 0.0

rmse_a = val_rmse_s(model)
print(f" STAGE A DONE  VALID RMSE {rmse_a:.4f} S/DAY  ({time.time() - t0:.1f} S)")

# Stage B: float64 copy of the weights and data, full-batch descent.
model.set_dtype(mx.float64)
X64, Y64 = Xtr.astype(mx.float64), Ytr.astype(mx.float64)
LR_B, ITERS_B = 2e-4, 30
fg = nn.value_and_grad(model, mse)
print(" STAGE B  FLOAT64 FULL-BATCH DESCENT  BATCH", N_TR, " LR", f"{LR_B:.1E}")
print("   ITER       FULL_MSE                 DELTA_PPM     UPD/WEIGHT")
prev = None
for k in range(1, ITERS_B + 1):
    loss, g = fg(model, X64, Y64)
    params = model.trainable_parameters()
    upd = tree_map(lambda gg: -LR_B * gg, g)
    new = tree_map(lambda p, u: p + u, params, upd)
    un = sum(float(mx.sum(u * u)) for _, u in tree_flatten(upd)) ** 0.5
    wn = sum(float(mx.sum(p * p)) for _, p in tree_flatten(params)) ** 0.5
    model.update(new)
    mx.eval(model.parameters(), loss)
    cur = float(loss)
    d = 0.0 if prev is None else (cur - prev) / prev * 1e6
    if k <= 3 or k % 5 == 0:
        print(f" {k:6d}  {cur:22.15E}  {d:12.4f}  {un / wn:12.4E}")
    prev = cur
dt = {str(v.dtype) for _, v in tree_flatten(model.parameters())}
rmse_b64 = val_rmse_s(model, Xva.astype(mx.float64), Yva.astype(mx.float64))
model.set_dtype(mx.float32)
rmse_b = val_rmse_s(model)
print(f" STAGE B DONE  WEIGHT DTYPES {sorted(dt)}  VALID RMSE F64 {rmse_b64:.6f}"
      f"  BACK IN F32 {rmse_b:.6f}  STAGE A {rmse_a:.6f} S/DAY")
print(f" FINISHED  NOISE FLOOR {NOISE:.2f}  MEAN GUESS {float(yva.std()):.3f}"
      f"  ELAPSED {time.time() - t0:.1f} S")
