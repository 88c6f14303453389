"""Hot-air balloon climb-rate model.

Predict vertical speed (m/min) of a hot-air balloon from a short flight log
row: burner duty, envelope temperature, ambient temperature, payload, altitude,
vent opening. Trained in two stages: first on calm-morning flights, then on
midday flights with thermals (noisier, harder), so the loss jumps up at the
stage switch. Each stage restarts its step counter and warms the learning rate
up from exactly 0. Output is one JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)


def make_flights(n, thermal, key):
    k1, k2, k3 = mx.random.split(key, 3)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    burner = u[:, 0]                      # duty 0..1
    env_t = 70.0 + 50.0 * u[:, 1]         # envelope deg C
    amb_t = 0.0 + 30.0 * u[:, 2]          # ambient deg C
    payload = 300.0 + 400.0 * u[:, 3]     # kg
    alt = 3000.0 * u[:, 4]                # m
    vent = u[:, 5] ** 2                   # 0..1
    rho_ratio = mx.exp(-alt / 8500.0)
    lift = (env_t - amb_t) / (env_t + 273.0) * 2800.0 * rho_ratio - payload
    climb = 0.09 * lift + 55.0 * burner - 80.0 * vent
    climb = 40.0 * mx.tanh(climb / 40.0)
    noise = 1.0 + (5.0 * thermal)
    climb = climb + noise * mx.random.normal(shape=(n,), key=k2)
    if thermal:
        bump = 12.0 * mx.sin(amb_t / 4.0) * (alt < 1500.0)
        climb = climb + bump
    x = mx.stack([burner, (env_t - 95.0) / 15.0, (amb_t - 15.0) / 9.0,
                  (payload - 500.0) / 115.0, (alt - 1500.0) / 870.0, vent], axis=1)
    return x, climb[:, None]


class ClimbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return 20.0 * self.out(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=5.0, reduction="mean")


model = ClimbNet()
keys = mx.random.split(mx.random.key(11), 4)
stages = [
    ("calm_morning", make_flights(3000, False, keys[0]), make_flights(600, False, keys[1]), 400),
    ("midday_thermals", make_flights(3000, True, keys[2]), make_flights(600, True, keys[3]), 400),
]

loss_and_grad = nn.value_and_grad(model, loss_fn)
batch = 64
t0 = time.time()
for stage_name, (xtr, ytr), (xva, yva), steps in stages:
    base_rmse = math.sqrt(mx.mean((yva - mx.mean(ytr)) ** 2).item())
    warm = optim.linear_schedule(0.0, 2e-3, 60)
    cos = optim.cosine_decay(2e-3, steps - 60, end=5e-5)
    opt = optim.Lion(learning_rate=optim.join_schedules([warm, cos], [60]), weight_decay=0.01)
    n = xtr.shape[0]
    for step in range(steps):
        idx = mx.random.randint(0, n, (batch,))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            pred = model(xva)
            rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
            mae = mx.mean(mx.abs(pred - yva)).item()
            print(json.dumps({
                "stage": stage_name, "step": step, "lr": round(opt.learning_rate.item(), 7),
                "huber": round(loss.item(), 4), "val_rmse_m_per_min": round(rmse, 3),
                "val_mae_m_per_min": round(mae, 3), "mean_only_rmse": round(base_rmse, 3),
            }))
    print(json.dumps({"stage_done": stage_name, "elapsed_s": round(time.time() - t0, 2)}))

# check every layer received gradient in the last step
gnorms = {k: round(mx.linalg.norm(v).item(), 5)
          for k, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)}
print(json.dumps({"grad_norms": gnorms}))
