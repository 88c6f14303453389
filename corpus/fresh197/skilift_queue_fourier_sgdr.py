"""Ski-lift queue wait (minutes) from resort conditions.
Random-Fourier feature block is frozen on purpose (fixed kernel features);
only the readout MLP trains. AdamW, LR warms up from exactly 0, then SGDR
cosine cycles with warm restarts. One JSON object per epoch on stdout."""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)


def make_resort_days(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 5), key=k1)
    hour = 8.0 + 9.0 * u[:, 0]                      # 08:00 .. 17:00
    snow_cm = 40.0 * u[:, 1] ** 2                   # fresh snow overnight
    temp_c = -18.0 + 20.0 * u[:, 2]
    weekend = (u[:, 3] > 0.7).astype(mx.float32)
    lifts_open = 0.4 + 0.6 * u[:, 4]
    rush = mx.exp(-((hour - 10.5) ** 2) / 2.0) + 0.6 * mx.exp(-((hour - 13.5) ** 2) / 1.5)
    wait = (4.0 + 14.0 * rush * (1.0 + 0.8 * weekend) + 0.25 * snow_cm
            - 0.15 * mx.abs(temp_c + 6.0)) / lifts_open
    wait = wait + 0.8 * mx.random.normal(shape=(n,), key=k2)
    x = mx.stack([mx.sin(2 * math.pi * hour / 24), mx.cos(2 * math.pi * hour / 24),
                  snow_cm / 40.0, (temp_c + 8.0) / 10.0, weekend, lifts_open], axis=1)
    return x, wait


class FourierBlock(nn.Module):
    def __init__(self, d_in, d_feat, scale=3.0):
        super().__init__()
        self.B = scale * mx.random.normal(shape=(d_in, d_feat))
        self.phase = mx.random.uniform(0, 2 * math.pi, shape=(d_feat,))

    def __call__(self, x):
        return mx.cos(x @ self.B + self.phase) * math.sqrt(2.0 / self.B.shape[1])


class QueueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = FourierBlock(6, 128)
        self.head = nn.Sequential(nn.Linear(128 + 6, 48), nn.SiLU(), nn.Linear(48, 1))

    def __call__(self, x):
        return self.head(mx.concatenate([self.rff(x), x], axis=1))[:, 0]


xtr, ytr = make_resort_days(1536, mx.random.key(1))
xva, yva = make_resort_days(384, mx.random.key(2))
baseline_mae = mx.mean(mx.abs(yva - mx.mean(ytr))).item()   # predict-the-mean reference

model = QueueNet()
model.rff.freeze()                                    # fixed kernel features by design
rff_before = mx.array(model.rff.B)

EPOCHS, BATCH, WARM = 36, 64, 2
steps_per_epoch = xtr.shape[0] // BATCH
cycle = 8 * steps_per_epoch
warmup = optim.linear_schedule(0.0, 3e-3, WARM * steps_per_epoch)
sgdr = optim.join_schedules(
    [optim.cosine_decay(3e-3, cycle, 1e-5) for _ in range(5)],
    [cycle * (i + 1) for i in range(4)])
lr_sched = optim.join_schedules([warmup, sgdr], [WARM * steps_per_epoch])
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=2.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# gradient audit: every trainable tensor must receive signal
_, g0 = grad_fn(model, xtr[:BATCH], ytr[:BATCH])
norms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "trainable": len(norms),
                  "min_grad_norm": round(min(norms.values()), 6),
                  "frozen": [k for k, _ in tree_flatten(model.rff.parameters())]}))

for epoch in range(EPOCHS):
    perm = mx.random.permutation(xtr.shape[0])
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        lr_now = opt.learning_rate.item()
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    val_mae = mx.mean(mx.abs(model(xva) - yva)).item()
    print(json.dumps({"epoch": epoch, "cycle": 0 if epoch < WARM else (epoch - WARM) // 8,
                      "lr_last": float(f"{lr_now:.2e}"), "huber": round(tot / steps_per_epoch, 4),
                      "val_mae_min": round(val_mae, 3), "ref_mean_mae_min": round(baseline_mae, 3)}))

drift = mx.max(mx.abs(model.rff.B - rff_before)).item()
print(json.dumps({"event": "done", "val_mae_min": round(val_mae, 3),
                  "vs_reference": f"{100 * (1 - val_mae / baseline_mae):.1f}% lower",
                  "frozen_rff_max_change": drift}))
