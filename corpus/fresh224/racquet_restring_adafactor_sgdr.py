"""Tennis stringer's notebook: how many lbs of tension does a freshly strung
racquet lose after some hours of play?

Synthetic shop records: string material (poly / multifilament / natural gut),
gauge, reference tension, hours played, court temperature, humidity and the
player's spin (rev) rate.  A small SiLU MLP is fitted with Adafactor under a
schedule that starts at exactly 0 (linear warm-up) and then does cosine warm
restarts, so the loss jumps up after each restart before settling again.
Progress goes out as JSON lines.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(224)


def make_shop_log(n):
    material = rng.integers(0, 3, n)               # 0 poly, 1 multi, 2 gut
    gauge = rng.uniform(1.15, 1.35, n)             # mm
    ref_tension = rng.uniform(44, 62, n)           # lbs at the stringing machine
    hours = rng.gamma(2.0, 4.0, n)                 # hours of play
    temp = rng.uniform(8, 38, n)                   # deg C on court
    humid = rng.uniform(20, 90, n)                 # %
    revs = rng.uniform(800, 3200, n)               # rpm topspin
    # made-up creep law: fast initial drop then log creep, poly creeps most
    creep_k = np.array([0.62, 0.41, 0.28])[material]
    loss = (
        0.09 * ref_tension * (1 - np.exp(-hours / 1.5))
        + creep_k * np.log1p(hours) * (1 + 0.012 * (temp - 20))
        + 0.0009 * revs * (material == 0) * np.log1p(hours) / 3
        + 0.02 * (humid - 50) * (material == 2)
        - 2.5 * (gauge - 1.25)
    )
    loss = loss + rng.normal(0, 0.35, n)
    onehot = np.eye(3)[material]
    feats = np.column_stack(
        [onehot, gauge, ref_tension, np.log1p(hours), temp, humid, revs / 1000]
    )
    return feats.astype(np.float32), loss.astype(np.float32)


Xtr, ytr = make_shop_log(6000)
Xva, yva = make_shop_log(1200)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
y_mu, y_sd = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n = mx.array((ytr - y_mu) / y_sd)
yva_lbs = mx.array(yva)
baseline_mae = float(np.abs(yva - y_mu).mean())  # always-predict-the-mean


class TensionNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = TensionNet(Xtr.shape[1])

BATCH = 128
steps_per_epoch = Xtr.shape[0] // BATCH
WARM = 2 * steps_per_epoch
CYCLE = 6 * steps_per_epoch
N_CYCLES = 3
EPOCHS = 2 + 6 * N_CYCLES
peak = 3e-3
warm = optim.linear_schedule(0.0, peak, WARM)
cycles = [optim.cosine_decay(peak, CYCLE, 2e-5) for _ in range(N_CYCLES)]
bounds = [WARM + i * CYCLE for i in range(N_CYCLES)]
schedule = optim.join_schedules([warm] + cycles, bounds)
opt = optim.Adafactor(
    learning_rate=schedule, relative_step=False, scale_parameter=False, beta_1=0.9
)


def mse_fn(m, x, y):
    return ((m(x) - y) ** 2).mean()


loss_and_grad = nn.value_and_grad(model, mse_fn)

t0 = time.time()
print(json.dumps({"event": "start", "n_train": int(Xtr.shape[0]), "warmup_steps": WARM,
                  "cycle_steps": CYCLE, "lr_at_step0": float(schedule(mx.array(0)))}))
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr_n[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    pred_lbs = model(Xva) * float(y_sd) + float(y_mu)
    val_mae = mx.abs(pred_lbs - yva_lbs).mean().item()
    restart = epoch > 2 and (epoch - 2) % 6 == 1
    print(json.dumps({
        "epoch": epoch,
        "lr": round(float(opt.learning_rate.item()), 7),
        "train_mse_z": round(run / steps_per_epoch, 4),
        "val_mae_lbs": round(val_mae, 3),
        "mean_predictor_mae_lbs": round(baseline_mae, 3),
        "after_restart": restart,
    }))

final = mx.abs(model(Xva) * float(y_sd) + float(y_mu) - yva_lbs).mean().item()
print(json.dumps({"event": "done", "steps": step, "val_mae_lbs": round(final, 3),
                  "skill_vs_mean": f"{100 * (1 - final / baseline_mae):.1f}%",
                  "secs": round(time.time() - t0, 1)}))
