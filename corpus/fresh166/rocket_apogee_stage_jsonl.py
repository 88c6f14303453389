"""Model-rocketry club: predict apogee (metres) of a launch from motor and airframe data.

Stage "calm" trains on calm-day launches only, stage "gusty" then adds windy launches
(weathercocking loses altitude), so the training loss steps up when the harder stage opens.
Each stage warms its learning rate up from exactly 0.  One JSON object per line.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
N = 3000

# features: total impulse (N s), burn time (s), liftoff mass (kg), diameter (mm),
# fin area (cm^2), rail angle (deg), wind (m/s)
k = mx.random.split(mx.random.key(11), 8)
impulse = mx.random.uniform(10, 160, (N,), key=k[0])
burn = mx.random.uniform(0.6, 3.0, (N,), key=k[1])
mass = mx.random.uniform(0.08, 0.9, (N,), key=k[2])
diam = mx.random.uniform(24, 66, (N,), key=k[3])
fins = mx.random.uniform(20, 160, (N,), key=k[4])
angle = mx.random.uniform(0, 10, (N,), key=k[5])
wind = mx.concatenate([mx.random.uniform(0, 2, (N // 2,), key=k[6]),
                       mx.random.uniform(2, 9, (N - N // 2,), key=k[6])])

dv = impulse / mass                                   # ideal delta-v
drag = 1.0 / (1.0 + 0.00004 * diam**2 * dv / 100)     # bluff bodies lose more
h_vac = (dv * drag) ** 2 / (2 * 9.81) * 0.1
weathercock = 1.0 - 0.035 * wind * (fins / 100) - 0.01 * angle
apogee = h_vac * weathercock + 8 * burn
apogee = apogee + mx.random.normal((N,), key=k[7]) * 6.0
apogee = mx.clip(apogee, 5, None)

X = mx.stack([impulse / 160, burn / 3, mass, diam / 66, fins / 160, angle / 10, wind / 9], axis=1)
y_scale = 400.0
y = apogee / y_scale

perm = mx.random.permutation(N, key=mx.random.key(3))
X, y, wind_p = X[perm], y[perm], wind[perm]
n_val = 600
Xv, yv = X[:n_val], y[:n_val]
Xt, yt, wt = X[n_val:], y[n_val:], wind_p[n_val:]
calm_idx = mx.array([i for i, w in enumerate(wt.tolist()) if w < 2.0])
all_idx = mx.arange(Xt.shape[0])


class ApogeeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x).squeeze(-1)


model = ApogeeNet()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


# gradient audit before training: every array must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xt[:256], yt[:256])
zero = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "arrays": len(tree_flatten(g0)), "zero_grad": zero}))

base_rmse = float(mx.sqrt(mx.mean((yv - yt.mean()) ** 2))) * y_scale

stages = [("calm", calm_idx, 25, 2e-3), ("gusty", all_idx, 35, 1.5e-3)]
t0 = time.time()
best = None
for stage, idx, epochs, peak in stages:
    steps_per = math.ceil(idx.shape[0] / 64)
    warm = 3 * steps_per
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, (epochs - 3) * steps_per, peak * 0.05)],
                                 [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        l, g = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, g)
        return l

    for ep in range(1, epochs + 1):
        order = idx[mx.random.permutation(idx.shape[0])]
        tot, nb = 0.0, 0
        lr_first = None
        for s in range(0, order.shape[0], 64):
            b = order[s:s + 64]
            if lr_first is None:
                lr_first = float(opt.learning_rate)
            l = step(Xt[b], yt[b])
            mx.eval(l, state)
            tot += l.item()
            nb += 1
        val_rmse = float(mx.sqrt(mx.mean((model(Xv) - yv) ** 2))) * y_scale
        rec = {"stage": stage, "epoch": ep, "lr": round(lr_first, 6),
               "train_mse": round(tot / nb, 5), "val_rmse_m": round(val_rmse, 2),
               "mean_baseline_m": round(base_rmse, 2)}
        print(json.dumps(rec))
        best = val_rmse if best is None else min(best, val_rmse)

print(json.dumps({"event": "done", "best_val_rmse_m": round(best, 2),
                  "baseline_m": round(base_rmse, 2), "seconds": round(time.time() - t0, 1)}))
