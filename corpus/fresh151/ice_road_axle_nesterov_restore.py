"""Winter ice road: allowable gross vehicle weight (tonnes) from field readings.

Synthetic survey data (made-up Gold's-formula-like law), SiLU residual MLP,
SGD with Nesterov momentum, learning rate ramped up from exactly 0 then cosine
decay, compiled train step, early stopping on validation RMSE with restore of
the best weights.  One JSON object per evaluation.
"""
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(151)


def make_survey(n, key):
    k = mx.random.split(key, 7)
    ice_cm = mx.random.uniform(20, 110, (n,), key=k[0])          # clear ice thickness
    white_frac = mx.random.uniform(0.0, 0.5, (n,), key=k[1])      # share of white (snow) ice
    air_c = mx.random.uniform(-35, -2, (n,), key=k[2])            # 3-day mean air temperature
    snow_cm = mx.random.uniform(0, 40, (n,), key=k[3])            # snow cover on the lane
    crack_km = mx.floor(mx.random.uniform(0, 6, (n,), key=k[4]))   # wet cracks per km
    depth_m = mx.random.uniform(1, 25, (n,), key=k[5])            # water depth under the lane
    eff = ice_cm * (1.0 - 0.5 * white_frac)
    temp_factor = mx.clip(1.0 + 0.012 * (-air_c - 10.0), 0.7, 1.3)
    load_t = 0.0035 * eff ** 2 * temp_factor                       # Gold-like A*h^2
    load_t = load_t * (1.0 - 0.06 * crack_km) * (1.0 - 0.004 * snow_cm)
    load_t = load_t * (1.0 - 0.15 * mx.exp(-depth_m / 3.0))         # shallow-water wave effect
    noise = 1.0 + 0.05 * mx.random.normal((n,), key=k[6])
    y = load_t * noise
    x = mx.stack([ice_cm, white_frac, air_c, snow_cm, crack_km, depth_m], axis=1)
    return x, y[:, None]


key = mx.random.key(7)
ktr, kva = mx.random.split(key)
x_tr, y_tr = make_survey(6000, ktr)
x_va, y_va = make_survey(1200, kva)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
t_tr, t_va = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d)

    def __call__(self, h):
        return h + self.fc(nn.silu(self.norm(h)))


class LoadNet(nn.Module):
    def __init__(self, d_in=6, d=48, depth=3):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(nn.silu(h))


model = LoadNet()
mx.eval(model.parameters())

EPOCHS, BATCH = 40, 128
steps_per_epoch = x_tr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
warm = 3 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, warm), optim.cosine_decay(0.05, total - warm, 1e-4)],
    [warm],
)
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=1e-5)


def loss_fn(m, xb, tb):
    return nn.losses.mse_loss(m(xb), tb)


# gradient audit before training: every trainable tensor must get signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, x_tr[:256], t_tr[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"# grad audit: {len(tree_flatten(g0))} tensors, zero-grad: {dead if dead else 'none'}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, tb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, tb)
    opt.update(model, grads)
    return loss


def val_metrics():
    pred = model(x_va) * y_sd + y_mu
    err = pred - y_va
    rmse = mx.sqrt(mx.mean(err ** 2))
    mae = mx.mean(mx.abs(err))
    within = mx.mean((mx.abs(err) <= 0.1 * y_va).astype(mx.float32)) * 100
    return rmse.item(), mae.item(), within.item()


baseline_rmse = mx.sqrt(mx.mean((y_va - y_mu) ** 2)).item()
best = (float("inf"), -1, None)
patience, bad = 6, 0
t0 = time.perf_counter()
for ep in range(EPOCHS):
    perm = mx.random.permutation(x_tr.shape[0])
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss = step(x_tr[idx], t_tr[idx])
        mx.eval(loss, state)
        run += loss.item()
    rmse, mae, within = val_metrics()
    lr_now = float(schedule(opt.state["step"]))
    print(json.dumps({
        "epoch": ep, "lr": round(lr_now, 5), "train_mse_std": round(run / steps_per_epoch, 4),
        "val_rmse_t": round(rmse, 3), "val_mae_t": round(mae, 3), "within10pct": round(within, 1),
        "mean_predictor_rmse_t": round(baseline_rmse, 3),
    }))
    if rmse < best[0] - 1e-3:
        best = (rmse, ep, tree_map(lambda a: mx.array(a), model.parameters()))
        bad = 0
    else:
        bad += 1
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "epoch": ep, "best_epoch": best[1]}))
            break

model.update(best[2])
mx.eval(model.parameters())
rmse, mae, within = val_metrics()
print(json.dumps({"event": "restored", "best_epoch": best[1], "val_rmse_t": round(rmse, 3),
                  "val_mae_t": round(mae, 3), "within10pct": round(within, 1),
                  "mean_predictor_rmse_t": round(baseline_rmse, 3),
                  "seconds": round(time.perf_counter() - t0, 1)}))
