"""Daily beehive weight change (kg/day) from weather and forage features.

Synthetic apiary log: 14 hives x ~3 seasons of days. Target = nectar gain
(bloom x foraging-weather window) minus consumption (temperature dependent)
minus rain/wind losses, plus scale noise. BatchNorm MLP, AdaDelta, smooth L1.
The log mimics pip's install output.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_days(n):
    doy = rng.uniform(60, 300, n)                     # day of year
    tmax = 8 + 20 * np.sin((doy - 80) / 365 * 2 * np.pi) + rng.normal(0, 4, n)
    rain = np.clip(rng.gamma(0.6, 4.0, n) - 1.0, 0, None)  # mm
    wind = rng.gamma(2.0, 2.5, n)                      # m/s
    sun = np.clip(rng.beta(2, 2, n) * 12 - rain * 0.3, 0, 12)  # hours
    colony = rng.uniform(0.3, 1.0, n)                  # relative colony strength
    bloom = np.exp(-0.5 * ((doy - 140) / 18) ** 2) + 0.6 * np.exp(-0.5 * ((doy - 200) / 12) ** 2)
    fly = 1 / (1 + np.exp(-(tmax - 14) / 2.0)) * (1 - 1 / (1 + np.exp(-(wind - 9) / 1.5)))
    gain = 2.4 * colony * bloom * fly * (sun / 12) ** 0.7 * np.exp(-rain / 6)
    use = 0.12 + 0.05 * colony + 0.01 * np.abs(tmax - 22)
    y = gain - use + rng.normal(0, 0.08, n)
    X = np.stack([np.sin(doy / 365 * 2 * np.pi), np.cos(doy / 365 * 2 * np.pi),
                  tmax, np.log1p(rain), wind, sun, colony], 1)
    return X.astype(np.float32), y.astype(np.float32)[:, None]


Xtr, ytr = make_days(9000)
Xva, yva = make_days(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class HiveNet(nn.Module):
    def __init__(self, d_in=7, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.bn1 = nn.BatchNorm(h)
        self.l2 = nn.Linear(h, h)
        self.bn2 = nn.BatchNorm(h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.bn1(self.l1(x)))
        x = nn.silu(self.bn2(self.l2(x)))
        return self.out(x)


model = HiveNet()
mx.eval(model.parameters())
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)


def loss_fn(m, x, y):
    return nn.losses.smooth_l1_loss(m(x), y, beta=0.1, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def evaluate():
    model.eval()
    p = model(Xva)
    rmse = mx.sqrt(mx.mean((p - yva) ** 2))
    mae = mx.mean(mx.abs(p - yva))
    model.train()
    return rmse.item(), mae.item()


n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
base_rmse = float(mx.sqrt(mx.mean((yva - ytr.mean()) ** 2)).item())

# first-step gradient audit (not applied)
_, g0 = loss_and_grad(model, Xtr[:128], ytr[:128])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]

print("Collecting hive-weight-model==1.0 (from apiary log)")
print(f"  Using cached days-{Xtr.shape[0]}-train.whl ({Xtr.shape[0]} rows, {Xtr.shape[1]} features)")
print(f"  Using cached days-{Xva.shape[0]}-valid.whl ({Xva.shape[0]} rows)")
print(f"Requirement already satisfied: gradients ({len(leaves)} leaves, {len(zero)} zero: {zero or 'none'})")
print(f"Requirement already satisfied: baseline (predict-the-mean valid rmse {base_rmse:.4f} kg/day)")
print(f"Building wheels for collected packages: HiveNet ({n_params} params)")

B, EPOCHS = 64, 14
t0 = time.time()
n = Xtr.shape[0]
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(n))
    tot, cnt = 0.0, 0
    steps = n // B
    for i in range(steps):
        idx = perm[i * B:(i + 1) * B]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.state, opt.state, loss)
        tot += loss.item()
        cnt += 1
    rmse, mae = evaluate()
    bar = "━" * 40
    print(f"  Downloading epoch-{ep:02d}.tar.gz   {bar} {steps}/{steps} steps "
          f"train_sl1={tot / cnt:.5f} valid_rmse={rmse:.4f} valid_mae={mae:.4f} "
          f"{time.time() - t0:5.1f}s")

rmse, mae = evaluate()
print(f"  Stored in directory: ./hive-weight-model (noise floor ~0.080 kg/day)")
print(f"Successfully installed HiveNet-1.0 valid_rmse-{rmse:.4f} valid_mae-{mae:.4f}")
