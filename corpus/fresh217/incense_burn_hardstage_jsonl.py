"""Incense workshop: predict how many minutes a stick burns.

Synthetic sticks; features = diameter, bamboo core, resin share, sandalwood
share, charcoal share, room humidity, draught speed.  Stage "still" trains on
calm, dry rooms only; stage "draughty" adds the windy / humid rooms (a harder
distribution, so the loss jumps when it starts).  Learning rate warms up from
exactly 0.  One JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(217)


def make_sticks(n, key):
    k = mx.random.split(key, 3)
    u = mx.random.uniform(shape=(n, 7), key=k[0])
    diam = 1.5 + 2.0 * u[:, 0]            # mm
    core = (u[:, 1] > 0.5).astype(mx.float32)
    resin = 0.05 + 0.3 * u[:, 2]
    sandal = 0.6 * u[:, 3]
    charcoal = 0.05 + 0.35 * u[:, 4]
    humid = 25 + 60 * u[:, 5]             # %
    draught = 1.2 * u[:, 6] ** 2          # m/s
    minutes = (
        18 * diam ** 1.4
        - 6 * core
        + 25 * resin
        + 12 * sandal
        - 30 * charcoal
        + 0.15 * humid
        - 14 * draught * (1 + 0.6 * charcoal / 0.4)
        + 3 * mx.sin(humid / 9.0) * draught
    )
    minutes = minutes + 1.5 * mx.random.normal(shape=(n,), key=k[1])
    X = mx.stack([diam, core, resin, sandal, charcoal, humid, draught], axis=1)
    calm = (draught < 0.25) & (humid < 60)
    return X, minutes, calm


Xtr, ytr, calm_tr = make_sticks(6000, mx.random.key(1))
Xva, yva, _ = make_sticks(1500, mx.random.key(2))
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
ym, ys = ytr.mean(), ytr.std()
norm = lambda X: (X - mu) / sd
Xtr_n, Xva_n = norm(Xtr), norm(Xva)
ytr_n = (ytr - ym) / ys

calm_idx = mx.array([i for i, c in enumerate(calm_tr.tolist()) if c])


class BurnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = BurnNet()
mx.eval(model.parameters())

STEPS = 900
warm = optim.linear_schedule(0.0, 3e-3, 60)
decay = optim.cosine_decay(3e-3, STEPS - 60, 1e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [60]), weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# reference: always predict the training mean
base_mae = mx.abs(yva - ym).mean().item()

# check every trainable leaf gets a gradient
_, g0 = vg(model, Xtr_n[:256], ytr_n[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_audit", "leaves": len(tree_flatten(g0)), "zero_grad_leaves": zero}))

t0 = time.time()
B = 128
running = None
for step in range(STEPS):
    stage = "still" if step < 400 else "draughty"
    pool = calm_idx if stage == "still" else None
    if pool is None:
        idx = mx.random.randint(0, Xtr_n.shape[0], (B,))
    else:
        idx = pool[mx.random.randint(0, pool.shape[0], (B,))]
    loss, grads = vg(model, Xtr_n[idx], ytr_n[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
    if step % 75 == 0 or step == STEPS - 1 or step in (399, 400, 401):
        pred = model(Xva_n) * ys + ym
        err = pred - yva
        print(json.dumps({
            "step": step,
            "stage": stage,
            "lr": round(opt.learning_rate.item(), 6),
            "huber": round(loss.item(), 4),
            "huber_ema": round(running, 4),
            "val_mae_min": round(mx.abs(err).mean().item(), 3),
            "val_rmse_min": round(math.sqrt((err ** 2).mean().item()), 3),
            "ref_mae_min": round(base_mae, 3),
        }))

pred = model(Xva_n) * ys + ym
mae = mx.abs(pred - yva).mean().item()
print(json.dumps({"event": "done", "val_mae_min": round(mae, 3), "ref_mae_min": round(base_mae, 3),
                  "skill_pct": round(100 * (1 - mae / base_mae), 1), "secs": round(time.time() - t0, 1)}))
