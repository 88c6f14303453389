"""Fit a hang-glider sink-rate polar from (synthetic) flight-log samples.

Warm-restart schedule: every cycle starts from lr = 0, warms up, then cosine
decays; the best validation snapshot is restored at the end.
Logs are JSON lines on stdout.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)


def make_logs(n):
    k = mx.random.split(mx.random.key(n), 7)
    airspeed = mx.random.uniform(8.0, 22.0, (n,), key=k[0])      # m/s
    loading = mx.random.uniform(5.5, 9.0, (n,), key=k[1])        # kg/m^2
    bank = mx.random.uniform(0.0, 45.0, (n,), key=k[2])          # deg
    rho = mx.random.uniform(0.95, 1.22, (n,), key=k[3])          # kg/m^3
    vg_tension = mx.random.uniform(0.0, 1.0, (n,), key=k[4])     # VG setting
    harness_drag = mx.random.uniform(0.0, 1.0, (n,), key=k[5])
    # made-up polar: induced sink ~ loading/(rho v cos^2 bank), parasite ~ v^3
    cb = mx.cos(bank * math.pi / 180.0)
    induced = 9.0 * loading / (rho * airspeed * cb * cb)
    parasite = (0.00011 + 0.00005 * harness_drag - 0.00003 * vg_tension) * airspeed**3 * rho / 1.1
    sink = 0.15 + induced * 0.1 + parasite
    sink = sink + 0.05 * mx.random.normal((n,), key=k[6])
    x = mx.stack([airspeed, loading, bank, rho, vg_tension, harness_drag], axis=1)
    return x, sink


x_tr, y_tr = make_logs(3000)
x_va, y_va = make_logs(800)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
t_tr = (y_tr - y_mu) / y_sd


class Polar(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


def mse(model, x, t):
    return ((model(x) - t) ** 2).mean()


model = Polar()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
grad_fn = nn.value_and_grad(model, mse)

CYCLES, STEPS, WARM, PEAK, BS = 4, 160, 20, 2e-2, 96
const_rmse = float(mx.sqrt(((y_va - y_mu) ** 2).mean()))


def lr_at(i):
    if i < WARM:
        return PEAK * i / WARM  # exactly 0 at the first step of every cycle
    p = (i - WARM) / (STEPS - WARM)
    return PEAK * 0.5 * (1 + math.cos(math.pi * p))


best = (float("inf"), None, None)
t0 = time.time()
for cycle in range(1, CYCLES + 1):
    for it in range(STEPS):
        opt.learning_rate = lr_at(it)
        idx = mx.random.randint(0, x_tr.shape[0], (BS,))
        loss, grads = grad_fn(model, x_tr[idx], t_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 40 == 0 or it == STEPS - 1:
            pred = model(x_va) * y_sd + y_mu
            err = mx.abs(pred - y_va)
            rmse = float(mx.sqrt((err**2).mean()))
            within = float((err < 0.1).mean()) * 100
            print(json.dumps({
                "cycle": cycle, "it": it, "lr": round(opt.learning_rate.item(), 6),
                "batch_mse_std": round(loss.item(), 5),
                "val_rmse_mps": round(rmse, 4), "val_within_10cm_s_pct": round(within, 1),
                "ref_const_rmse_mps": round(const_rmse, 4),
            }))
            if rmse < best[0]:
                best = (rmse, cycle, tree_map(lambda a: mx.array(a), model.parameters()))

model.update(best[2])
mx.eval(model.parameters())
pred = model(x_va) * y_sd + y_mu
final = float(mx.sqrt(((pred - y_va) ** 2).mean()))
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "restored_best", "from_cycle": best[1], "val_rmse_mps": round(final, 4),
                  "ref_const_rmse_mps": round(const_rmse, 4), "params": n_params,
                  "seconds": round(time.time() - t0, 1)}))
