# Saltworks evaporation pans: salinity gain (g/L per day) from 6 pan readings.
# Stage 1 trains an MLP on the old coastal works; stage 2 freezes it and learns
# only (IA)^3 rescaling vectors for a new inland works with few labelled days.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
FEATS = ["air_temp_C", "rel_humidity", "wind_m_s", "sun_hours", "depth_cm", "start_salinity"]


def make_site(n, site):
    t = rng.uniform(12, 38, n); rh = rng.uniform(0.25, 0.95, n); w = rng.uniform(0, 9, n)
    sun = rng.uniform(2, 13, n); d = rng.uniform(4, 30, n); s0 = rng.uniform(35, 260, n)
    evap = (0.06 * t + 0.05 * w * (1 - rh) * (1.3 if site == "inland" else 1.0)
            + 0.09 * sun) * (1 - rh) ** (0.8 if site == "coast" else 1.25)
    gain = evap * s0 / d * (0.55 if site == "coast" else 0.8)
    if site == "inland":
        gain = gain - 0.004 * np.maximum(s0 - 180, 0)  # halite starts dropping out
    gain = gain + rng.normal(0, 0.15, n)
    X = np.stack([t, rh, w, sun, d, s0], 1)
    return X.astype(np.float32), gain.astype(np.float32)[:, None]


Xc, yc = make_site(6000, "coast")
Xi, yi = make_site(1200, "inland")
mu, sd = Xc.mean(0), Xc.std(0)
ymu, ysd = yc.mean(), yc.std()
norm = lambda X: mx.array((X - mu) / sd)
ny = lambda y: mx.array((y - ymu) / ysd)
Xc_tr, yc_tr, Xc_va, yc_va = norm(Xc[:5000]), ny(yc[:5000]), norm(Xc[5000:]), ny(yc[5000:])
Xi_tr, yi_tr = norm(Xi[:96]), ny(yi[:96])           # 96 labelled inland days
Xi_va, yi_va = norm(Xi[200:]), ny(yi[200:])


class PanNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.l1 = nn.Linear(6, h); self.l2 = nn.Linear(h, h); self.out = nn.Linear(h, 1)
        self.s1 = mx.ones((h,)); self.s2 = mx.ones((h,))   # (IA)^3 vectors, identity at start

    def __call__(self, x):
        h = nn.silu(self.l1(x)) * self.s1
        h = nn.silu(self.l2(h)) * self.s2
        return self.out(h)


def mse(m, X, y):
    return nn.losses.mse_loss(m(X), y)


def rmse_gl(m, X, y):   # back in g/L/day
    return float(mx.sqrt(mse(m, X, y))) * float(ysd)


model = PanNet()
model.freeze(keys=["s1", "s2"])            # stage 1: scales held at 1
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, mse)
t0 = time.time()
print("stage 1: coastal works, trainable", sum(v.size for _, v in tree_flatten(model.trainable_parameters())))
for ep in range(12):
    perm = mx.array(rng.permutation(5000))
    for i in range(0, 5000, 100):
        idx = perm[i:i + 100]
        loss, g = step_fn(model, Xc_tr[idx], yc_tr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    if ep % 3 == 2 or ep == 11:
        print(f"  epoch {ep + 1:2d}  coast val rmse {rmse_gl(model, Xc_va, yc_va):.3f} g/L/day")

mean_base = float(np.sqrt(np.mean((yi[200:] - yi[:96].mean()) ** 2)))
frozen_base = rmse_gl(model, Xi_va, yi_va)
print(f"inland baselines: predict-mean {mean_base:.3f}  coastal model as-is {frozen_base:.3f}")

# stage 2: only the scaling vectors train; warmup starts at exactly zero
model.unfreeze(); model.freeze(); model.unfreeze(keys=["s1", "s2"])
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 2: inland works, trainable {n_tr}")
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-2, 40), optim.cosine_decay(3e-2, 560, 3e-3)], [40])
opt2 = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, mse)
w_before = np.array(model.l1.weight)
for step in range(600):
    idx = mx.array(rng.integers(0, 96, 32))
    loss, g = step_fn(model, Xi_tr[idx], yi_tr[idx])
    opt2.update(model, g)
    mx.eval(model.parameters(), opt2.state)
    if step in (0, 1, 20, 40) or (step + 1) % 100 == 0:
        print(f"  step {step + 1:3d}  lr {float(sched(mx.array(step))):.4f}  train mse {float(loss):.4f}  "
              f"inland val rmse {rmse_gl(model, Xi_va, yi_va):.3f}")

final = rmse_gl(model, Xi_va, yi_va)
print(f"base weights unchanged: {bool(np.array_equal(w_before, np.array(model.l1.weight)))}")
print(f"scale spread s1 {float(model.s1.min()):.2f}..{float(model.s1.max()):.2f}  s2 {float(model.s2.min()):.2f}..{float(model.s2.max()):.2f}")
print(f"inland val rmse {final:.3f} vs coastal as-is {frozen_base:.3f} vs predict-mean {mean_base:.3f}  ({time.time() - t0:.1f}s)")
