"""Learn hours of daylight from latitude and day of year.

Targets come from the standard sunrise-equation approximation (solar
declination from day of year, hour angle from -tan(lat)*tan(decl), clipped
for polar day/night) plus 3 minutes of 'measurement' noise.
Training: AdaDelta with gradient accumulation over 4 micro-batches.
Output: a gnuplot inline data block (plot '-' ...) and a city table.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)


def daylight_hours(lat_deg, day):
    decl = -23.44 * np.cos(2 * np.pi * (day + 10) / 365.0)
    x = -np.tan(np.radians(lat_deg)) * np.tan(np.radians(decl))
    omega = np.arccos(np.clip(x, -1.0, 1.0))
    return 24.0 * omega / np.pi


def features(lat_deg, day):
    a = 2 * np.pi * day / 365.0
    return np.stack([lat_deg / 66.0, np.sin(a), np.cos(a),
                     (lat_deg / 66.0) * np.sin(a), (lat_deg / 66.0) * np.cos(a)], axis=1).astype(np.float32)


def make_split(n):
    lat = rng.uniform(-66, 66, size=n)
    day = rng.integers(0, 365, size=n).astype(np.float64)
    y = daylight_hours(lat, day) + rng.normal(0, 0.05, size=n)  # 3 min noise
    return features(lat, day), y.astype(np.float32)


Xtr, ytr = make_split(8000)
Xva, yva = make_split(2000)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class DaylightNet(nn.Module):
    def __init__(self, d_in=5, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return 12.0 + 6.0 * self.out(x).squeeze(-1)   # centred on 12 h


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


mx.random.seed(3)
model = DaylightNet()
mx.eval(model.parameters())
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
grad_fn = nn.value_and_grad(model, mse)

# gradient check: every leaf must receive a non-zero gradient at step 0
_, g0 = grad_fn(model, Xtr[:256], ytr[:256])
zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(f"# gradcheck: {len(tree_flatten(g0))} leaves, zero-grad leaves: {zero or 'none'}")

MICRO, ACCUM, EPOCHS = 64, 4, 12
n = Xtr.shape[0]
print("# gnuplot: plot '-' using 1:2 w lp t 'train mse (h^2)', '' using 1:3 w lp t 'val rmse (min)'")
print("# epoch train_mse val_rmse_min")
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(n))
    run, cnt = 0.0, 0
    acc = None
    for i in range(0, n - MICRO + 1, MICRO):
        idx = perm[i:i + MICRO]
        loss, g = grad_fn(model, Xtr[idx], ytr[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        cnt += 1
        run += float(loss)
        if cnt % ACCUM == 0:
            opt.update(model, tree_map(lambda t: t / ACCUM, acc))
            mx.eval(model.parameters(), opt.state)
            acc = None
    val_rmse_min = 60.0 * math.sqrt(float(mse(model, Xva, yva)))
    print(f"{epoch} {run / cnt:.5f} {val_rmse_min:.2f}")
print("e")

cities = [("Quito", -0.2), ("Cairo", 30.0), ("Paris", 48.9), ("Reykjavik", 64.1), ("Hobart", -42.9)]
days = [("Mar-20", 79), ("Jun-21", 172), ("Dec-21", 355)]
print(f"\n{'city':<10} {'day':<7} {'formula_h':>9} {'model_h':>8}")
for name, lat in cities:
    for dname, d in days:
        f = features(np.array([lat]), np.array([float(d)]))
        pred = float(model(mx.array(f))[0])
        print(f"{name:<10} {dname:<7} {daylight_hours(np.array([lat]), np.array([float(d)]))[0]:9.2f} {pred:8.2f}")
