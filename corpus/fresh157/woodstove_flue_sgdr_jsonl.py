# Wood-stove flue thermometer: predict the flue-gas temperature (deg C) a
# cast-iron stove settles at, from what the owner writes in the burn log.
# Hand-rolled MLP (plain dict of arrays), Nesterov momentum written by hand,
# SGDR: every cycle warms the learning rate up from exactly 0, then cosine.
import json
import math
import time

import numpy as np
import mlx.core as mx

rng = np.random.default_rng(11)
N_TRAIN, N_VALID = 4000, 1000


def make_logbook(n):
    moisture = rng.uniform(8, 30, n)          # % wood moisture
    damper = rng.uniform(0.05, 1.0, n)        # primary air, fraction open
    load_kg = rng.uniform(1.0, 6.0, n)        # kg of logs on the fire
    outdoor = rng.uniform(-20, 12, n)         # deg C outside
    draft_pa = rng.uniform(5, 25, n)          # chimney draft, Pa
    hardwood = rng.integers(0, 2, n)          # 1 = oak/ash, 0 = pine/spruce
    # made-up stove law: dry wood + open damper = hot flue, wet wood cools it
    # via steam, too much draft pulls heat up the chimney, hardwood burns longer
    flue = (
        140
        + 260 * np.tanh(1.6 * damper) * (1 - 0.022 * (moisture - 8))
        + 38 * np.log1p(load_kg)
        + 3.1 * draft_pa
        - 0.9 * outdoor
        - 45 * hardwood * damper
        + 0.18 * (draft_pa - 15) ** 2
    )
    flue = flue + rng.normal(0, 9.0, n)
    x = np.stack([moisture, damper, load_kg, outdoor, draft_pa, hardwood], 1)
    return x.astype(np.float32), flue.astype(np.float32)


xtr, ytr = make_logbook(N_TRAIN)
xva, yva = make_logbook(N_VALID)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr_n, xva_n = (xtr - mu) / sd, (xva - mu) / sd

# reference: ordinary least squares on the same standardised features
A = np.hstack([xtr_n, np.ones((N_TRAIN, 1), np.float32)])
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
ols_mae = float(np.abs(np.hstack([xva_n, np.ones((N_VALID, 1), np.float32)]) @ coef - yva).mean())

Xtr, Ytr = mx.array(xtr_n), mx.array((ytr - ymu) / ysd)
Xva, Yva = mx.array(xva_n), mx.array(yva)


def init(sizes):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"W{i}"] = mx.random.normal((a, b)) * math.sqrt(2.0 / a)
        p[f"b{i}"] = mx.zeros((b,))
    return p


mx.random.seed(3)
params = init([6, 48, 48, 1])
velocity = {k: mx.zeros_like(v) for k, v in params.items()}


def forward(p, x):
    h = mx.maximum(x @ p["W0"] + p["b0"], 0.0)
    h = mx.maximum(h @ p["W1"] + p["b1"], 0.0)
    return (h @ p["W2"] + p["b2"]).squeeze(-1)


def loss_fn(p, x, y):
    return mx.mean((forward(p, x) - y) ** 2)


grad_fn = mx.value_and_grad(loss_fn)

CYCLES, CYCLE_LEN, WARM = 3, 200, 25
PEAK, MOM, BATCH = 0.05, 0.9, 64


def lr_at(t):
    if t < WARM:
        return PEAK * t / WARM  # t = 0 gives exactly 0.0
    frac = (t - WARM) / (CYCLE_LEN - WARM)
    return 0.5 * PEAK * (1 + math.cos(math.pi * frac))


# make sure every weight gets a gradient before we start
_, g0 = grad_fn(params, Xtr[:256], Ytr[:256])
zero_grads = [k for k, g in g0.items() if float(mx.abs(g).max()) == 0.0]
assert not zero_grads, zero_grads

t0 = time.time()
global_step = 0
for cycle in range(1, CYCLES + 1):
    for t in range(CYCLE_LEN):
        lr = lr_at(t)
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        loss, grads = grad_fn(params, Xtr[idx], Ytr[idx])
        # hand-written Nesterov momentum
        new_p, new_v = {}, {}
        for k in params:
            v = MOM * velocity[k] - lr * grads[k]
            new_v[k] = v
            new_p[k] = params[k] + MOM * v - lr * grads[k]
        params, velocity = new_p, new_v
        mx.eval(params, velocity, loss)
        global_step += 1
        if t % 40 == 0 or t == CYCLE_LEN - 1:
            pred = forward(params, Xva) * float(ysd) + float(ymu)
            mae = mx.mean(mx.abs(pred - Yva)).item()
            rmse = math.sqrt(mx.mean((pred - Yva) ** 2).item())
            print(json.dumps({
                "cycle": cycle, "t": t, "step": global_step,
                "lr": round(lr, 6),
                "batch_mse_z": round(loss.item(), 4),
                "valid_mae_C": round(mae, 2),
                "valid_rmse_C": round(rmse, 2),
                "ols_mae_C": round(ols_mae, 2),
            }))

pred = forward(params, Xva) * float(ysd) + float(ymu)
final_mae = mx.mean(mx.abs(pred - Yva)).item()
within_15 = 100.0 * mx.mean((mx.abs(pred - Yva) < 15.0).astype(mx.float32)).item()
print(json.dumps({
    "event": "done", "steps": global_step,
    "valid_mae_C": round(final_mae, 2), "ols_mae_C": round(ols_mae, 2),
    "within_15C_pct": round(within_15, 1),
    "noise_floor_mae_C": round(9.0 * math.sqrt(2 / math.pi), 2),
    "secs": round(time.time() - t0, 1),
}))
