"""Mangrove propagule dispersal: how far (km) does a floating seedling drift
before it strands?  Two-stage curriculum: calm-season releases first, then the
monsoon/surge releases are mixed in (harder, noisier).  Species codes come from
a fixed, frozen lookup table (field-guide descriptors), the rest is trained."""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(11)
SPECIES = 4


def simulate(n, surge):
    tide = rs.uniform(0.5, 3.5, n)          # tidal range, m
    wind = rs.uniform(0, 12, n)             # onshore wind, m/s
    buoy = rs.uniform(5, 60, n)             # buoyancy period, days
    sp = rs.randint(0, SPECIES, n)
    surge_m = rs.uniform(0.8, 2.5, n) * surge  # storm surge height, m (0 in calm season)
    sp_eff = np.array([0.0, 0.4, -0.3, 0.7])[sp]
    logd = (0.6 * np.log(buoy) + 0.25 * tide - 0.05 * wind + sp_eff
            + 0.9 * surge_m - 0.15 * surge_m * wind / 6)
    noise = rs.normal(0, 0.15 + 0.25 * surge, n)
    x = np.stack([tide / 3.5, wind / 12, np.log(buoy) / 4.1, surge_m / 2.5], 1)
    return x.astype(np.float32), sp.astype(np.int32), (logd + noise).astype(np.float32)


def stage_data(surge_frac, n):
    m = int(n * surge_frac)
    a = simulate(n - m, 0.0)
    b = simulate(m, 1.0)
    return tuple(np.concatenate([u, v]) for u, v in zip(a, b))


class DriftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.species = nn.Embedding(SPECIES, 3)   # field-guide codes, kept frozen
        self.body = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.out = nn.Linear(48, 1)

    def __call__(self, x, sp):
        h = mx.concatenate([x, self.species(sp)], axis=-1)
        return self.out(self.body(h)).squeeze(-1)


model = DriftNet()
model.species.freeze()
mx.eval(model.parameters())
frozen_before = np.array(model.species.weight)


def loss_fn(m, x, sp, y):
    return nn.losses.huber_loss(m(x, sp), y, delta=0.5, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

stages = [("calm", 0.0, 160, 2e-3), ("monsoon", 0.45, 220, 1.2e-3)]
val_calm = stage_data(0.0, 400)
baseline_mu = None
best = None
for name, frac, steps, peak in stages:
    xtr, sptr, ytr = stage_data(frac, 2400)
    xva, spva, yva = stage_data(frac, 600)
    Xtr, Str, Ytr = mx.array(xtr), mx.array(sptr), mx.array(ytr)
    Xva, Sva, Yva = mx.array(xva), mx.array(spva), mx.array(yva)
    base_km = float(np.mean(np.abs(np.exp(yva) - np.exp(np.mean(ytr)))))
    # warm-up from exactly zero, then cosine; the schedule restarts each stage
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, 30),
                                  optim.cosine_decay(peak, steps - 30, 1e-5)], [30])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    if name == "calm":
        _, g0 = grad_fn(model, Xtr[:256], Str[:256], Ytr[:256])
        norms = {k: round(float(mx.linalg.norm(v)), 4) for k, v in tree_flatten(g0)}
        print(json.dumps({"audit": "grad_norms", "n_trainable": len(norms),
                          "min": min(norms.values()), "max": max(norms.values())}))
    best_val, best_step, bad = float("inf"), 0, 0
    for step in range(steps):
        idx = mx.array(rs.randint(0, len(ytr), 128))
        loss, grads = grad_fn(model, Xtr[idx], Str[idx], Ytr[idx])
        lr_now = float(opt.learning_rate) if step else 0.0
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == steps - 1:
            pred = model(Xva, Sva)
            vloss = float(loss_fn(model, Xva, Sva, Yva))
            mae_km = float(mx.mean(mx.abs(mx.exp(pred) - mx.exp(Yva))))
            print(json.dumps({"stage": name, "step": step, "lr": round(lr_now, 6),
                              "train_huber": round(float(loss), 4), "val_huber": round(vloss, 4),
                              "val_mae_km": round(mae_km, 2), "mean_guess_km": round(base_km, 2)}))
            if name == "monsoon":
                if vloss < best_val - 1e-4:
                    best_val, best_step, bad = vloss, step, 0
                    best = tree_map(lambda a: mx.array(a), model.trainable_parameters())
                else:
                    bad += 1
                    if bad >= 4:
                        print(json.dumps({"stage": name, "event": "early_stop", "step": step}))
                        break

model.update(best)
mx.eval(model.parameters())
vloss = float(loss_fn(model, Xva, Sva, Yva))
calm_loss = float(loss_fn(model, mx.array(val_calm[0]), mx.array(val_calm[1]), mx.array(val_calm[2])))
drift = float(np.abs(np.array(model.species.weight) - frozen_before).max())
print(json.dumps({"event": "restored", "best_step": best_step, "val_huber": round(vloss, 4),
                  "calm_holdout_huber": round(calm_loss, 4), "frozen_table_max_change": drift}))
