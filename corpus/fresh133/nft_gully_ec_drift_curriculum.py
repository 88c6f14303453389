# Hydroponic NFT lettuce gullies: predict tomorrow's drift of nutrient EC (mS/cm)
# and pH from today's sensor readings.  Two-stage curriculum: seedling weeks
# first (narrow, mostly linear), then heading weeks (wider range + uptake burst).
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(133)
N_FEAT = 7  # ec, ph, water temp, air temp, PAR, plant age, flow rate (standardised)


def gully_days(n, stage):
    spread = 0.6 if stage == "seedling" else 1.4
    x = mx.random.normal((n, N_FEAT)) * spread
    ec, ph, wt, at, par, age, flow = [x[:, i] for i in range(N_FEAT)]
    uptake = 0.35 * par + 0.2 * at + 0.15 * age
    if stage == "heading":
        uptake = uptake + 0.45 * mx.maximum(age, 0.0) * mx.maximum(par, 0.0)
    d_ec = -0.08 * uptake + 0.05 * wt - 0.04 * ec + 0.02 * flow
    d_ph = 0.06 * uptake - 0.03 * (ph - 0.2 * ec) + 0.01 * mx.sin(2 * wt)
    y = mx.stack([d_ec, d_ph], axis=1)
    y = y + 0.01 * mx.random.normal(y.shape)
    return x, y


@mx.custom_function
def soft_bound(x):
    # x / (1 + |x|)  (softsign), written by hand with its own derivative
    return x / (1 + mx.abs(x))


@soft_bound.vjp
def soft_bound_vjp(primals, cotangent, output):
    x = primals  # single input: primals is the array itself
    return cotangent / (1 + mx.abs(x)) ** 2


class DriftNet(nn.Module):
    def __init__(self, d=N_FEAT, h=48):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 2)

    def __call__(self, x):
        z = soft_bound(self.inp(x))
        z = soft_bound(self.mid(z)) + z
        return self.out(z)


# vjp audit against finite differences before training
xa = mx.linspace(-3, 3, 13)
g_an = mx.grad(lambda t: soft_bound(t).sum())(xa)
eps = 1e-3
g_fd = (soft_bound(xa + eps) - soft_bound(xa - eps)) / (2 * eps)
print(json.dumps({"event": "vjp_audit", "max_abs_diff": round(mx.max(mx.abs(g_an - g_fd)).item(), 7)}))

model = DriftNet()
SCALE = mx.array([10.0, 10.0])  # work in units of 0.1 mS/cm and 0.1 pH


def loss_fn(m, x, y):
    return mx.mean(((m(x) - y) * SCALE) ** 2)


step_fn = nn.value_and_grad(model, loss_fn)

# every trainable tensor must receive gradient
xg, yg = gully_days(256, "seedling")
_, g0 = step_fn(model, xg, yg)
zero = [k for k, v in nn.utils.tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(nn.utils.tree_flatten(g0)), "zero_grad": zero}))


def metrics(x, y):
    pred = model(x)
    err = mx.abs(pred - y)
    rmse_ec = mx.sqrt(mx.mean((pred[:, 0] - y[:, 0]) ** 2)).item()
    within = (mx.mean((err[:, 0] < 0.02) & (err[:, 1] < 0.02)) * 100).item()
    return rmse_ec, within


STAGES = [("seedling", 300, 3e-3), ("heading", 600, 2e-3)]
for stage, steps, peak in STAGES:
    xt, yt = gully_days(6000, stage)
    xv, yv = gully_days(1000, stage)
    base_rmse = mx.sqrt(mx.mean((yv[:, 0] - mx.mean(yt[:, 0])) ** 2)).item()
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.Adamax(learning_rate=sched)
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, xt.shape[0], (96,))
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 100 == 0:
            rmse_ec, within = metrics(xv, yv)
            print(json.dumps({
                "stage": stage, "step": step, "lr": round(lr_now, 6),
                "loss": round(loss.item(), 4),
                "val_rmse_ec_mS": round(rmse_ec, 4), "mean_baseline_mS": round(base_rmse, 4),
                "in_tol_pct": round(within, 1),
            }))
    gnorm = math.sqrt(sum((v * v).sum().item() for _, v in nn.utils.tree_flatten(grads)))
    print(json.dumps({"event": "stage_end", "stage": stage, "grad_norm": round(gnorm, 4)}))

xs, ys = gully_days(1000, "seedling")
r_s, w_s = metrics(xs, ys)
print(json.dumps({"event": "final", "seedling_rmse_ec_mS": round(r_s, 4), "seedling_in_tol_pct": round(w_s, 1)}))
