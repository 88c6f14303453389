"""Velodrome lap-time model: fit on the indoor track, then carry it to the
open-air track with a small side network added on top of the indoor model.

The indoor network is kept as it is for the second track (its weights are
held constant); only the side network and its scalar gate learn. The gate starts
at 0.0, so the combined model begins exactly where the indoor model is.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

FEATS = ["power_w", "cadence", "mass_kg", "cda", "temp_c", "wind_ms", "lap_no"]


def make_track(n, outdoor):
    power = rng.uniform(250, 520, n)
    cad = rng.uniform(95, 130, n)
    mass = rng.uniform(62, 90, n)
    cda = rng.uniform(0.17, 0.26, n)
    temp = rng.uniform(14, 30, n) if outdoor else rng.uniform(24, 28, n)
    wind = rng.uniform(0, 7, n) if outdoor else np.zeros(n)
    lap = rng.integers(1, 17, n).astype(float)
    speed = 11.0 * (power / (cda * 1000)) ** (1 / 3) * (1 + 0.002 * (temp - 20))
    speed -= 0.004 * (mass - 75) + 0.03 * np.abs(cad - 112) / 10 + 0.02 * lap
    if outdoor:
        speed -= 0.11 * wind ** 1.3 + 0.004 * (30 - temp) ** 1.2
    lap_s = 250.0 / speed + rng.normal(0, 0.12, n)
    X = np.stack([power, cad, mass, cda, temp, wind, lap], 1)
    return X.astype(np.float32), lap_s.astype(np.float32)


Xa, ya = make_track(6000, outdoor=False)
Xb, yb = make_track(2400, outdoor=True)
mu, sd = Xa.mean(0), Xa.std(0) + 1e-6
sd[5] = 3.0  # wind is constant indoors; give it a scale from the outdoor range
ymu, ysd = ya.mean(), ya.std()


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)


Xa_t, ya_t = prep(Xa[:5000], ya[:5000])
Xa_v, ya_v = prep(Xa[5000:], ya[5000:])
Xb_t, yb_t = prep(Xb[:1200], yb[:1200])
Xb_v, yb_v = prep(Xb[1200:], yb[1200:])


class Indoor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


class SideTuned(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.base = base
        self.side = nn.Sequential(nn.Linear(7, 24), nn.Tanh(), nn.Linear(24, 1))
        self.gate = mx.array(0.0)

    def __call__(self, x):
        return self.base(x) + self.gate * self.side(x).squeeze(-1)


def rmse_s(model, X, y):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2)).item()) * ysd


def fit(model, opt, X, y, epochs, bs, tag, Xv, yv, report):
    loss_fn = lambda m, xb, yb_: nn.losses.mse_loss(m(xb), yb_)
    vg = nn.value_and_grad(model, loss_fn)
    n = X.shape[0]
    first = True
    for ep in range(1, epochs + 1):
        t0 = time.time()
        perm = np.random.default_rng(ep).permutation(n)
        tot, k = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = vg(model, X[idx], y[idx])
            if first:
                flat = tree_flatten(g)
                zero = [k_ for k_, v in flat if float(mx.abs(v).max().item()) == 0.0]
                print(f"[{tag}.first_step]")
                print(f"  trainable_leaves = {len(flat)}")
                print(f"  zero_grad_leaves = {zero}")
                first = False
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); k += 1
        if ep in report:
            print(f"[{tag}.epoch.{ep:02d}]")
            print(f"  train_mse_std = {tot / k:.4f}")
            print(f"  valid_rmse_s  = {rmse_s(model, Xv, yv):.3f}")
            if isinstance(model, SideTuned):
                print(f"  gate          = {model.gate.item():+.4f}")
            print(f"  secs          = {time.time() - t0:.2f}")


print("[data]")
print(f"  indoor_train = {Xa_t.shape[0]}  indoor_valid = {Xa_v.shape[0]}")
print(f"  outdoor_train = {Xb_t.shape[0]}  outdoor_valid = {Xb_v.shape[0]}")
print(f"  noise_floor_s = 0.120  predict_mean_outdoor_s = {float(np.std(yb[1200:])):.3f}")

base = Indoor()
fit(base, optim.Adam(learning_rate=2e-3), Xa_t, ya_t, 20, 64, "indoor", Xa_v, ya_v, {1, 2, 5, 10, 15, 20})
print("[indoor.done]")
print(f"  indoor_valid_rmse_s  = {rmse_s(base, Xa_v, ya_v):.3f}")
print(f"  outdoor_valid_rmse_s = {rmse_s(base, Xb_v, yb_v):.3f}   (indoor model as is)")

snap = {k: np.array(v) for k, v in tree_flatten(base.parameters())}
model = SideTuned(base)
model.base.freeze()
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print("[outdoor.setup]")
print(f"  params_trainable = {n_tr} of {n_all}")
print(f"  start_rmse_s     = {rmse_s(model, Xb_v, yb_v):.3f}")
fit(model, optim.Adam(learning_rate=3e-3), Xb_t, yb_t, 40, 32, "outdoor", Xb_v, yb_v, {1, 2, 3, 5, 10, 20, 30, 40})

drift = max(float(np.abs(np.array(v) - snap[k]).max()) for k, v in tree_flatten(model.base.parameters()))
print("[done]")
print(f"  indoor_weights_max_change = {drift:.1e}")
print(f"  outdoor_valid_rmse_s      = {rmse_s(model, Xb_v, yb_v):.3f}")
print(f"  indoor_valid_rmse_s_base  = {rmse_s(base, Xa_v, ya_v):.3f}")
