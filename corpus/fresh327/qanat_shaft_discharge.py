"""Qanat survey: spring-season discharge at the outlet (L/s), regressed from the
village water register.

Synthetic register: mother-well depth, gallery length, gallery gradient, last
winter's rain, years since the gallery was last cleared, outlet air temperature.
A small MLP is trained with AdamW; a shadow copy of the weights is kept as an
exponential moving average and used for validation (weights are swapped in
for evaluation and swapped back for training). The shadow copy with the best
validation error is kept and restored at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)


def make_log(n):
    depth = rng.uniform(8.0, 60.0, n)          # mother-well depth, m
    length = rng.uniform(0.5, 9.0, n)          # gallery length, km
    grad = rng.uniform(0.5, 4.0, n)            # gallery gradient, per mille
    rain = rng.uniform(80.0, 420.0, n)         # last winter's rain, mm
    silt = rng.uniform(0.0, 12.0, n)           # years since the gallery was cleared
    temp = rng.uniform(-2.0, 34.0, n)          # air temperature at the outlet, deg C
    q = 0.9 * depth ** 0.7 * length ** 0.4 * (rain / 200.0) ** 0.8
    q *= np.sqrt(grad / 2.0) * np.exp(-silt / 18.0) * (1.0 - 0.004 * (temp - 16.0))
    q *= rng.lognormal(0.0, 0.05, n)           # ~5% log-normal noise
    X = np.stack([depth, length, grad, rain, silt, temp], 1).astype(np.float32)
    return X, q.astype(np.float32)


Xtr, ytr = make_log(6000)
Xva, yva = make_log(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr_n), mx.array(Xva_n)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_np = yva


class DischargeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


mx.random.seed(3)
model = DischargeNet()
mx.eval(model.parameters())

EPOCHS = 30
BATCH = 64
steps_per_epoch = len(Xtr) // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

shadow = tree_map(lambda p: mx.array(p), model.trainable_parameters())
mx.eval(shadow)
n_updates = 0


def shadow_update():
    global shadow, n_updates
    n_updates += 1
    decay = min(0.995, (1.0 + n_updates) / (10.0 + n_updates))
    shadow = tree_map(lambda s, p: decay * s + (1.0 - decay) * p,
                      shadow, model.trainable_parameters())


def val_metrics():
    pred = np.array(model(Xva_m)) * ysd + ymu
    mae = float(np.mean(np.abs(pred - yva_np)))
    mape = float(np.mean(np.abs(pred - yva_np) / yva_np)) * 100
    return mae, mape


base_mae = float(np.mean(np.abs(yva_np - ytr.mean())))
print(f"register: {len(Xtr)} train / {len(Xva)} valid qanat-seasons, mean discharge {ymu:.1f} L/s")
print(f"baseline (always the mean): valid MAE {base_mae:.2f} L/s")

best = (float("inf"), -1, None)
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        loss, grads = grad_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        shadow_update()
        mx.eval(model.parameters(), opt.state, shadow, loss)
        run += loss.item()

    raw_mae, _ = val_metrics()
    live = model.trainable_parameters()
    model.update(shadow)
    ema_mae, ema_mape = val_metrics()
    model.update(live)

    tag = ""
    if ema_mae < best[0]:
        best = (ema_mae, epoch, tree_map(lambda p: mx.array(p), shadow))
        mx.eval(best[2])
        tag = "  *kept"
    if epoch <= 3 or epoch % 3 == 0 or tag:
        lr = float(opt.learning_rate)
        print(f"epoch {epoch:2d}  lr {lr:.2e}  train huber {run / steps_per_epoch:.4f}  "
              f"valid MAE live {raw_mae:.2f} L/s  shadow {ema_mae:.2f} L/s ({ema_mape:.1f}%){tag}")

model.update(best[2])
final_mae, final_mape = val_metrics()
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"restored shadow weights from epoch {best[1]} ({n_params} parameters)")
print(f"final valid MAE {final_mae:.2f} L/s ({final_mape:.1f}%) vs baseline {base_mae:.2f} L/s")
print(f"time {time.time() - t0:.1f}s")
