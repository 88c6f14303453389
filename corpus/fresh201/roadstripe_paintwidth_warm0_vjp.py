# Road line-marking truck: predict painted stripe width (mm) from 6 run readings.
# Two stages: slow runs first, then the full speed range incl. fast runs (harder).
import math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

def make_runs(n, fast):
    gun = rng.uniform(0.3, 1.1, n)            # spray-gun opening, mm
    absorb = rng.uniform(0.0, 1.0, n)         # asphalt porosity index
    visc = rng.uniform(1.0, 6.0, n)           # paint viscosity, Pa.s
    angle = rng.uniform(30, 70, n)            # gun tilt, degrees
    top = 6.0 if fast else 2.0
    speed = rng.uniform(0.5, top, n)          # truck speed, km/h / 4
    humid = rng.uniform(20, 80, n)            # relative humidity, %
    width = (260 * gun + 90 * absorb - 12 * visc + 35 * np.sin(np.radians(angle))
             - 14 * speed + 0.9 * humid * absorb - 9 * speed * (visc > 4)
             + 6 * np.sin(speed * 2.0) * gun * 4)
    width = width + rng.normal(0, 4.0, n)
    X = np.stack([gun, absorb, visc, angle, speed, humid], 1)
    return X.astype(np.float32), width.astype(np.float32)

Xa, ya = make_runs(1200, fast=False)
Xb, yb = make_runs(1600, fast=True)
Xv, yv = make_runs(600, fast=True)
mu, sd = Xb.mean(0), Xb.std(0)
ymu, ysd = yb.mean(), yb.std()
norm = lambda X: mx.array((X - mu) / sd)
tnorm = lambda y: mx.array((y - ymu) / ysd)

@mx.custom_function
def leaky(x):
    return mx.maximum(x, 0.1 * x)

@leaky.vjp
def leaky_vjp(primals, cotangent, output):
    x = primals
    return cotangent * mx.where(x > 0, 1.0, 0.1)

class StripeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
    def __call__(self, x):
        return self.out(leaky(self.l2(leaky(self.l1(x))))).squeeze(-1)

model = StripeNet()
mx.eval(model.parameters())
steps_per_stage = 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, 2 * steps_per_stage - 40, 1e-4)], [40])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss

# gradient audit: every weight should get a signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, norm(Xa[:64]), tnorm(ya[:64]))
from mlx.utils import tree_flatten
gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print("grad audit:", " ".join(f"{k}={v:.3g}" for k, v in gn.items()))
assert all(v > 0 for v in gn.values())

base_rmse = float(np.sqrt(np.mean((yv - yb.mean()) ** 2)))
Xv_m, yv_np = norm(Xv), yv
t0 = time.time()
gstep = 0
for stage, (X, y) in enumerate([(Xa, ya), (Xb, yb)], start=1):
    Xm, ym = norm(X), tnorm(y)
    n = X.shape[0]
    for i in range(1, steps_per_stage + 1):
        idx = mx.array(rng.integers(0, n, 64))
        loss = step(Xm[idx], ym[idx])
        mx.eval(state, loss)
        gstep += 1
        if i % 50 == 0 or i == 1:
            pred = np.array(model(Xv_m)) * ysd + ymu
            rmse = float(np.sqrt(np.mean((pred - yv_np) ** 2)))
            bar = "#" * (20 * i // steps_per_stage)
            lr = float(opt.learning_rate)
            print(f"stage {stage}/2 |{bar:<20}| {i}/{steps_per_stage} [{time.time()-t0:5.1f}s, lr={lr:.2e}] "
                  f"mse={loss.item():.4f} val_rmse={rmse:6.2f}mm (mean-baseline {base_rmse:.2f}mm)")

pred = np.array(model(Xv_m)) * ysd + ymu
rmse = float(np.sqrt(np.mean((pred - yv_np) ** 2)))
print(f"done: val_rmse {rmse:.2f}mm vs baseline {base_rmse:.2f}mm ({100*(1-rmse/base_rmse):.1f}% better), {gstep} steps")
