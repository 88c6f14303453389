"""Cork-oak montado: predict bark (cork) thickness at the 9-year stripping.

Synthetic stand inventory, a small region-embedding MLP, Adam under a linear
warmup that starts at exactly 0 followed by exponential decay.  Half-way the
run writes a checkpoint (weights + optimizer state), throws everything away,
rebuilds model and optimizer from disk and carries on from the saved step.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
REGIONS = ["Alentejo", "Ribatejo", "Extremadura", "Andalucia", "Sardegna"]
N_TRAIN, N_VAL = 6000, 1500
N = N_TRAIN + N_VAL

region = rng.integers(0, len(REGIONS), N)
age = rng.uniform(30, 160, N)                 # years
girth = rng.uniform(60, 320, N)               # cm at breast height
rain = rng.uniform(350, 900, N)               # mm / year over the cycle
soil = rng.uniform(0.3, 2.5, N)               # m
density = rng.uniform(40, 160, N)             # trees / ha
strip_coef = rng.uniform(1.5, 3.0, N)         # stripping height / girth

region_base = np.array([31.0, 28.5, 29.5, 26.0, 33.0])
thick = (region_base[region]
         + 6.0 * np.tanh((rain - 600) / 180)
         + 2.5 * np.log(soil + 0.5)
         - 0.004 * (age - 90) ** 2 / 10
         + 0.02 * (girth - 180)
         - 0.03 * (density - 100)
         - 1.8 * (strip_coef - 2.2) ** 2
         + rng.normal(0, 1.2, N))             # mm, measurement noise 1.2 mm

num = np.stack([age, girth, rain, soil, density, strip_coef], 1)
mu_x, sd_x = num[:N_TRAIN].mean(0), num[:N_TRAIN].std(0)
num = (num - mu_x) / sd_x
mu_y, sd_y = thick[:N_TRAIN].mean(), thick[:N_TRAIN].std()
y = (thick - mu_y) / sd_y

Xn = mx.array(num.astype(np.float32))
R = mx.array(region.astype(np.int32))
Y = mx.array(y.astype(np.float32))
tr = mx.arange(N_TRAIN)
va = mx.arange(N_TRAIN, N)

# per-region mean, the number a forester would quote without a model
reg_mean = np.array([thick[:N_TRAIN][region[:N_TRAIN] == r].mean() for r in range(len(REGIONS))])
base_mae = np.abs(reg_mean[region[N_TRAIN:]] - thick[N_TRAIN:]).mean()


class BarkNet(nn.Module):
    def __init__(self, n_regions, n_num, hidden=48):
        super().__init__()
        self.emb = nn.Embedding(n_regions, 4)
        self.l1 = nn.Linear(n_num + 4, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, r, x):
        h = mx.concatenate([self.emb(r), x], axis=-1)
        h = nn.silu(self.l1(h))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def make_schedule():
    warm = optim.linear_schedule(0.0, 3e-3, 150)
    decay = optim.exponential_decay(3e-3, 0.9975)
    return optim.join_schedules([warm, decay], [150])


def loss_fn(model, r, x, t):
    return nn.losses.mse_loss(model(r, x), t)


def val_mae(model):
    p = model(R[va], Xn[va]) * sd_y + mu_y
    return mx.mean(mx.abs(p - (Y[va] * sd_y + mu_y))).item()


TOTAL, HALF, BATCH, LOG = 1600, 800, 128, 100
mx.random.seed(3)
model = BarkNet(len(REGIONS), num.shape[1])
opt = optim.Adam(learning_rate=make_schedule())
mx.eval(model.parameters())

print(f"cork inventory: {N_TRAIN} train / {N_VAL} val trees, {len(REGIONS)} regions, "
      f"thickness {thick.min():.1f}-{thick.max():.1f} mm")
print(f"region-mean baseline val MAE: {base_mae:.3f} mm   (noise floor ~{1.2*0.798:.3f} mm)")
print(f"{'step':>5} | {'lr':>9} | {'train mse(z)':>12} | {'val MAE mm':>10} | {'vs baseline':>11}")
print("-" * 60)

t0 = time.time()
window = []
ckdir = tempfile.mkdtemp()


def train_range(model, opt, start, stop):
    global window
    lg = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss, grads = lg(model, R[idx], Xn[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % LOG == 0 or step == 0:
            m = val_mae(model)
            print(f"{step+1:>5} | {opt.learning_rate.item():>9.2e} | {np.mean(window):>12.4f} | "
                  f"{m:>10.3f} | {m/base_mae:>10.1%}")
            window = []


train_range(model, opt, 0, HALF)

# ---- checkpoint, drop everything, restore ----
wpath = os.path.join(ckdir, "bark.safetensors")
opath = os.path.join(ckdir, "bark_opt.npz")
model.save_weights(wpath)
mx.savez(opath, **dict(tree_flatten(opt.state)))
mae_before = val_mae(model)
size_kb = (os.path.getsize(wpath) + os.path.getsize(opath)) / 1024
print(f"checkpoint written after step {HALF} ({size_kb:.1f} KB), val MAE {mae_before:.3f} mm")
del model, opt

model = BarkNet(len(REGIONS), num.shape[1])
model.load_weights(wpath)
opt = optim.Adam(learning_rate=make_schedule())
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
print(f"restored: optimizer step {int(opt.state['step'].item())}, "
      f"val MAE {val_mae(model):.3f} mm (same weights)")

train_range(model, opt, HALF, TOTAL)

for f in (wpath, opath):
    os.remove(f)
os.rmdir(ckdir)

final = val_mae(model)
p = np.array(model(R[va], Xn[va])) * sd_y + mu_y
print("-" * 60)
for r, name in enumerate(REGIONS):
    m = region[N_TRAIN:] == r
    print(f"  {name:<12} n={m.sum():4d}  MAE {np.abs(p[m]-thick[N_TRAIN:][m]).mean():.3f} mm")
print(f"final val MAE {final:.3f} mm vs region-mean baseline {base_mae:.3f} mm "
      f"({time.time()-t0:.1f} s)")
