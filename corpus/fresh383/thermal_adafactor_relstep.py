# Paragliding: average climb rate (m/s) in a thermal from launch-site readings.
# Adafactor with its own relative step size and warm-up (no learning rate given),
# reports at roughly log-spaced steps only.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

def make(n):
    lapse = rng.uniform(5, 10, n)        # lapse rate C/km
    sun = rng.uniform(0, 1, n)           # insolation fraction
    wind = rng.uniform(0, 12, n)         # wind m/s
    base = rng.uniform(800, 2800, n)     # cloud base m
    wing = rng.uniform(3.5, 5.5, n)      # wing loading kg/m2
    bank = rng.uniform(20, 50, n)        # bank angle deg
    lift = 0.35 * (lapse - 4) * sun ** 0.8 * np.sqrt(base / 1500) * np.exp(-wind / 14)
    sink = 0.9 + 0.05 * (wing - 3.5) ** 2 + 0.6 / np.cos(np.radians(bank)) ** 1.5 - 0.6
    rate = lift - sink + 0.6 * np.sin(np.radians(bank)) * (wind < 6) + rng.normal(0, 0.15, n)
    X = np.stack([lapse, sun, wind, base, wing, bank], 1)
    return X.astype(np.float32), rate.astype(np.float32)

Xtr, ytr = make(16000)
Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array(ytr), mx.array(yva)

class ClimbNet(nn.Module):
    def __init__(self, d=6, h=64):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)
    def __call__(self, x):
        h = mx.tanh(self.inp(x))
        h = h + mx.tanh(self.mid(h))
        return self.out(h).squeeze(-1)

model = ClimbNet()
opt = optim.Adafactor(relative_step=True, warmup_init=True, scale_parameter=True)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)

vg = nn.value_and_grad(model, loss_fn)

def valid():
    p = model(Xva)
    rmse = mx.sqrt(mx.mean((p - yva_m) ** 2)).item()
    within = mx.mean(mx.abs(p - yva_m) < 0.3).item() * 100
    return rmse, within

mean_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
print(f"thermals: {len(ytr)} train / {len(yva)} valid; climb rate sd {ytr.std():.2f} m/s; vario noise 0.15 m/s")
print(f"reference: predict-the-mean valid rmse {mean_rmse:.3f} m/s")
r, w = valid()
print(f"untrained: valid rmse {r:.3f} m/s, within 0.3 m/s {w:.1f}%")

STEPS, B = 3500, 128
marks = sorted(set([1, 3, 10, 30, 100, 300, 600, 1000, 1500, 2000, 2500, 3000, STEPS]))
perm, cur, seen = rng.permutation(16000), 0, []
t0 = time.time()
for step in range(1, STEPS + 1):
    if cur + B > 16000:
        perm, cur = rng.permutation(16000), 0
    idx = mx.array(perm[cur:cur + B]); cur += B
    loss, grads = vg(model, Xtr[idx], ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    seen.append(loss.item())
    if step in marks:
        r, w = valid()
        rel = min(1e-6 * step, 1 / math.sqrt(step))
        print(f"step {step:5d}  rel_step {rel:.1e}  train mse {np.mean(seen):.4f} (over {len(seen)} steps)"
              f"  valid rmse {r:.3f} m/s  within 0.3 m/s {w:5.1f}%  {time.time()-t0:5.1f}s")
        seen = []
r, w = valid()
print(f"done: valid rmse {r:.3f} m/s vs predict-mean {mean_rmse:.3f} m/s; within 0.3 m/s {w:.1f}%")
