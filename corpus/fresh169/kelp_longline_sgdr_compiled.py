# Kelp farm: predict blade growth (cm/day) on a longline from site readings.
# AdamW, cosine schedule with warm restarts (each cycle starts its warmup from lr = 0),
# compiled train step. Prints one table row per epoch, with the climatology baseline beside it.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
N = 4000
temp = rng.uniform(6, 18, N)          # water temp C
nitrate = rng.uniform(0.5, 12, N)     # umol/L
light = rng.uniform(50, 400, N)       # umol photons
depth = rng.uniform(1, 8, N)          # m
current = rng.uniform(0.02, 0.5, N)   # m/s
growth = (1.8 * np.exp(-((temp - 11) / 4.0) ** 2) * (nitrate / (nitrate + 2.5))
          * (1 - np.exp(-light * np.exp(-0.18 * depth) / 120.0))
          + 0.6 * current - 0.02 * depth + rng.normal(0, 0.08, N))
X = np.stack([temp, nitrate, light, depth, current], 1)
X = (X - X.mean(0)) / X.std(0)
y = growth.astype(np.float32)
ntr = 3200
Xtr, ytr = mx.array(X[:ntr], dtype=mx.float32), mx.array(y[:ntr])
Xva, yva = mx.array(X[ntr:], dtype=mx.float32), mx.array(y[ntr:])
clim_rmse = float(np.sqrt(np.mean((y[ntr:] - y[:ntr].mean()) ** 2)))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)

mx.random.seed(3)
model = Net()
bs, per_epoch = 64, ntr // 64
cycle_epochs = [4, 6, 8]
peak = [3e-3, 2e-3, 1e-3]
def make_cycle(c):
    steps = cycle_epochs[c] * per_epoch
    warm = optim.linear_schedule(0.0, peak[c], per_epoch // 2)
    cos = optim.cosine_decay(peak[c], steps - per_epoch // 2, 1e-5)
    return optim.join_schedules([warm, cos], [per_epoch // 2])

opt = optim.AdamW(learning_rate=make_cycle(0), weight_decay=1e-4)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)

state = [model.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, g = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, g)
    return loss

t0 = time.time()
print(f"{'cyc':>3} {'ep':>3} {'lr_end':>9} {'train_mse':>10} {'val_rmse_cm':>12} {'climatology':>12}")
for c in range(3):
    if c > 0:
        opt = optim.AdamW(learning_rate=make_cycle(c), weight_decay=1e-4)
        opt.init(model.trainable_parameters())
        state = [model.state, opt.state]
        @partial(mx.compile, inputs=state, outputs=state)
        def step(xb, yb):
            loss, g = nn.value_and_grad(model, loss_fn)(model, xb, yb)
            opt.update(model, g)
            return loss
    for ep in range(cycle_epochs[c]):
        perm = mx.array(np.random.default_rng(100 * c + ep).permutation(ntr))
        tot = 0.0
        for i in range(per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
        vr = math.sqrt(nn.losses.mse_loss(model(Xva), yva).item())
        lr = opt.learning_rate.item()
        print(f"{c+1:>3} {ep:>3} {lr:9.2e} {tot/per_epoch:10.5f} {vr:12.4f} {clim_rmse:12.4f}")
print(f"done in {time.time()-t0:.1f}s; final val rmse {vr:.4f} cm/day vs climatology {clim_rmse:.4f} "
      f"({100*(1-vr/clim_rmse):.1f}% better)")
