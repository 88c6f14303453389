"""Icebreaker transit speed model.

Predict the sustained speed (knots) of a polar icebreaker from 7 route/ship
features. Training uses a two-leg curriculum: leg "lead" only has thin,
loose ice; leg "pack" brings in thick ridged pack ice, which is harder.
Metrics go out as JSON lines next to a "predict the mean" reference.
"""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(2031)


def make_voyages(n, key_thick):
    k1, k2, k3 = mx.random.split(key_thick, 3)
    u = mx.random.uniform(0.0, 1.0, (n, 7), key=k1)
    thickness_m = 0.2 + 2.3 * u[:, 0]           # level ice thickness
    conc = 0.3 + 0.7 * u[:, 1]                  # floe concentration (0-1)
    ridges = 12.0 * u[:, 2] * u[:, 0]           # ridges per km, more in thick ice
    power_mw = 10.0 + 50.0 * u[:, 3]            # shaft power
    snow_m = 0.4 * u[:, 4]
    pressure = u[:, 5]                          # ice pressure index
    ram_ok = (u[:, 6] > 0.5).astype(mx.float32) # ramming allowed
    resist = thickness_m ** 1.5 * (0.5 + conc) + 0.08 * ridges + 0.6 * snow_m + 0.9 * pressure * conc
    speed = 17.0 * mx.tanh(0.09 * power_mw / (0.25 + resist)) + 0.8 * ram_ok * (thickness_m > 1.5)
    speed = speed + 0.25 * mx.random.normal((n,), key=k3)
    feats = mx.stack([thickness_m, conc, ridges, power_mw / 10.0, snow_m * 5.0, pressure, ram_ok], axis=1)
    return feats, speed, thickness_m


keys = mx.random.split(mx.random.key(5), 2)
Xall, Yall, thick = make_voyages(3000, keys[0])
Xval, Yval, thick_val = make_voyages(600, keys[1])
mu, sd = mx.mean(Xall, axis=0), mx.std(Xall, axis=0) + 1e-6
Xall, Xval = (Xall - mu) / sd, (Xval - mu) / sd
lead_idx = mx.array([i for i, t in enumerate(thick.tolist()) if t < 0.9])
X_lead, Y_lead = Xall[lead_idx], Yall[lead_idx]
ref_speed = mx.mean(Yall)


class TransitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def huber(pred, y):
    return nn.losses.huber_loss(pred, y, delta=1.0, reduction="mean")


model = TransitNet()
mx.eval(model.parameters())
warm = optim.linear_schedule(0.0, 2e-3, 150)
decay = optim.cosine_decay(2e-3, 2400, end=1e-4)
opt = optim.RMSprop(learning_rate=optim.join_schedules([warm, decay], [150]), alpha=0.95)

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, lambda m: huber(m(xb), yb))(model)
    opt.update(model, grads)
    return loss


def evaluate(X, Y):
    p = model(X)
    err = mx.abs(p - Y)
    return mx.mean(err).item(), 100.0 * mx.mean(err < 1.0).item()


legs = [("lead", X_lead, Y_lead, 14), ("pack", Xall, Yall, 40)]
global_step = 0
for leg, X, Y, epochs in legs:
    n = X.shape[0]
    best_mae, best_params, bad = math.inf, None, 0
    for ep in range(epochs):
        perm = mx.random.permutation(n)
        running = []
        for i in range(0, n - 63, 64):
            idx = perm[i:i + 64]
            loss = train_step(X[idx], Y[idx])
            mx.eval(state, loss)
            running.append(loss.item())
            global_step += 1
        mae, within = evaluate(Xval, Yval)
        rec = {"leg": leg, "epoch": ep, "step": global_step,
               "lr": round(float(opt.learning_rate.item()), 6),
               "huber": round(sum(running) / len(running), 4),
               "val_mae_kn": round(mae, 3), "within_1kn": f"{within:.1f}%",
               "ref_mae_kn": round(mx.mean(mx.abs(ref_speed - Yval)).item(), 3)}
        print(json.dumps(rec))
        if leg == "pack":
            if mae < best_mae - 1e-3:
                best_mae, bad = mae, 0
                best_params = tree_flatten(model.parameters())
            else:
                bad += 1
                if bad >= 5:
                    print(json.dumps({"event": "early_stop", "epoch": ep, "best_val_mae_kn": round(best_mae, 3)}))
                    break
    if best_params is not None:
        model.update(tree_unflatten(best_params))
        mx.eval(model.parameters())

mae, within = evaluate(Xval, Yval)
thick_mask = thick_val > 1.5
p = model(Xval)
mae_thick = (mx.sum(mx.abs(p - Yval) * thick_mask) / mx.sum(thick_mask)).item()
print(json.dumps({"event": "final", "val_mae_kn": round(mae, 3), "within_1kn": f"{within:.1f}%",
                  "thick_ice_mae_kn": round(mae_thick, 3), "steps": global_step}))
