"""Wind-tunnel campaign: fit lift and drag polars of a family of wing sections.

Balance readings (synthetic) -> small MLP predicting CL and log CD.
Loss is a log-cosh with a hand-written backward pass; LR ramps up from 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1903)


def tunnel_runs(n):
    alpha = rng.uniform(-6.0, 20.0, n)          # deg
    log_re = rng.uniform(5.0, 6.5, n)           # log10 Reynolds
    camber = rng.uniform(0.0, 6.0, n)           # % chord
    thick = rng.uniform(8.0, 18.0, n)           # % chord
    flap = rng.choice([0.0, 10.0, 20.0, 30.0], n)  # deg
    a_eff = np.radians(alpha + 1.1 * camber + 0.35 * flap)
    cl_lin = 2 * math.pi * 0.9 * a_eff
    a_stall = 12.0 + 0.25 * (thick - 12.0) + 1.5 * (log_re - 5.5) - 0.08 * flap
    gate = 1.0 / (1.0 + np.exp(-(a_stall - alpha) / 1.2))
    cl_stall = 2 * math.pi * 0.9 * np.radians(a_stall + 1.1 * camber + 0.35 * flap)
    cl = cl_lin * gate + 0.62 * cl_stall * (1.0 - gate)
    cd = (0.0055 * (10 ** (5.5 - log_re)) ** 0.2 * (1 + 2.2 * (thick / 100) + 60 * (thick / 100) ** 2)
          + 0.012 * cl ** 2 + 0.0009 * flap / 10 + 0.16 * (1.0 - gate))
    cl = cl + rng.normal(0, 0.02, n)
    cd = cd * np.exp(rng.normal(0, 0.03, n))
    x = np.stack([alpha, log_re, camber, thick, flap], 1)
    return x.astype(np.float32), cl.astype(np.float32), cd.astype(np.float32)


x_tr, cl_tr, cd_tr = tunnel_runs(6000)
x_va, cl_va, cd_va = tunnel_runs(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
lcd_mu, lcd_sd = np.log(cd_tr).mean(), np.log(cd_tr).std()


def pack(x, cl, cd):
    z = (x - mu) / sd
    y = np.stack([cl, (np.log(cd) - lcd_mu) / lcd_sd], 1)
    return mx.array(z), mx.array(y.astype(np.float32))


Xtr, Ytr = pack(x_tr, cl_tr, cd_tr)
Xva, Yva = pack(x_va, cl_va, cd_va)


@mx.custom_function
def logcosh(r):
    return mx.logaddexp(r, -r) - math.log(2.0)


@logcosh.vjp
def logcosh_vjp(primals, cotangent, output):
    r = primals
    return cotangent * mx.tanh(r)


class PolarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.lift = nn.Linear(64, 1)
        self.drag = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return mx.concatenate([self.lift(h), self.drag(h)], axis=1)


def loss_fn(model, x, y):
    r = (model(x) - y) * mx.array([4.0, 1.0])
    return logcosh(r).mean()


model = PolarNet()
mx.eval(model.parameters())

# audit: hand-written backward pass against autodiff of the same expression
probe = mx.random.normal((64,)) * 3.0
g_custom = mx.grad(lambda r: logcosh(r).sum())(probe)
g_auto = mx.grad(lambda r: (mx.logaddexp(r, -r) - math.log(2.0)).sum())(probe)
print(f"vjp audit: |g_custom - g_auto|_max = {mx.abs(g_custom - g_auto).max().item():.2e}  "
      f"|g|_2 = {mx.sqrt((g_custom ** 2).sum()).item():.3f}")

EPOCHS, BATCH = 28, 128
steps_per_epoch = Xtr.shape[0] // BATCH
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

# zero-gradient check on every parameter (first batch)
_, g0 = step_fn(model, Xtr[:BATCH], Ytr[:BATCH])
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(f"params with zero grad: {dead if dead else 'none'} ({len(tree_flatten(g0))} tensors)")


def polar_metrics(X, Y, x_raw, cl_raw, cd_raw):
    p = model(X)
    cl_hat = p[:, 0]
    cd_hat = mx.exp(p[:, 1] * float(lcd_sd) + float(lcd_mu))
    cl_mae = mx.abs(cl_hat - mx.array(cl_raw)).mean().item()
    cd_mape = (mx.abs(cd_hat - mx.array(cd_raw)) / mx.array(cd_raw)).mean().item() * 100
    ss_res = ((cl_hat - mx.array(cl_raw)) ** 2).sum().item()
    ss_tot = float(((cl_raw - cl_raw.mean()) ** 2).sum())
    return cl_mae, cd_mape, 1 - ss_res / ss_tot


thin_airfoil = 2 * math.pi * np.radians(x_va[:, 0])
ref_mae = float(np.abs(thin_airfoil - cl_va).mean())
ref_cd = float((np.abs(np.median(cd_tr) - cd_va) / cd_va).mean() * 100)

t0 = time.time()
gstep = 0
for ep in range(EPOCHS):
    model.train()
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        lr_now = float(sched(mx.array(gstep)))
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        gstep += 1
        if ep == 0 and b == 0:
            print(json.dumps({"event": "first_step", "lr": lr_now, "logcosh": round(loss.item(), 5)}))
    model.eval()
    cl_mae, cd_mape, r2 = polar_metrics(Xva, Yva, x_va, cl_va, cd_va)
    print(json.dumps({
        "ep": ep + 1, "lr": round(float(sched(mx.array(gstep - 1))), 6),
        "train_logcosh": round(run / steps_per_epoch, 5),
        "cl_mae": round(cl_mae, 4), "cl_mae_thin_airfoil": round(ref_mae, 4),
        "cd_err_pct": round(cd_mape, 2), "cd_err_pct_const": round(ref_cd, 2),
        "r2_cl": round(r2, 4),
    }))

print(json.dumps({"event": "done", "wall_s": round(time.time() - t0, 1), "steps": gstep}))
