"""Predict how many cents a flue pipe speaks off its nominal pitch after voicing.

Synthetic voicing-room log: pipe length ratio, mouth cut-up, wind pressure, toe
bore, languid height, room temperature. Target = deviation in cents.
SGD + Nesterov momentum, cosine schedule with warm restarts (each cycle warms up
from lr exactly 0), early stopping on the validation MAE with best-weight restore.
Output: one JSON object per epoch.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(1234)
N_TRAIN, N_VAL, F = 3000, 600, 6


def synth(n):
    x = mx.random.uniform(-1.0, 1.0, (n, F))
    cents = (14.0 * x[:, 0] - 9.0 * x[:, 1] ** 2 + 6.0 * x[:, 2] * x[:, 3]
             + 5.0 * mx.sin(2.5 * x[:, 4]) + 3.0 * x[:, 5] + 2.0)
    cents = cents + 1.5 * mx.random.normal((n,))
    return x, cents[:, None]


x_tr, y_tr = synth(N_TRAIN)
x_va, y_va = synth(N_VAL)
y_mu, y_sd = y_tr.mean(), y_tr.std()
baseline_mae = mx.abs(y_va - y_mu).mean().item()  # predict the training mean


class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h) * y_sd + y_mu


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


model = Voicer()
mx.eval(model.parameters())

CYCLE, WARM, PEAK, BATCH = 12, 2, 0.02, 100
steps_per_epoch = N_TRAIN // BATCH


def lr_at(step):
    pos = step % (CYCLE * steps_per_epoch)
    w = WARM * steps_per_epoch
    if pos < w:
        return PEAK * pos / w  # exactly 0.0 at the first step of every cycle
    t = (pos - w) / (CYCLE * steps_per_epoch - w)
    return PEAK * 0.5 * (1 + math.cos(math.pi * t))


opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, huber)

# one-off check that every parameter receives a gradient
_, g0 = vg(model, x_tr[:BATCH], y_tr[:BATCH])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_check", "n_params": len(tree_flatten(g0)), "zero_grad": dead}))

best_mae, best_epoch, best_params, patience, bad = float("inf"), -1, None, 9, 0
step = 0
for epoch in range(60):
    perm = mx.random.permutation(N_TRAIN)
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        opt.learning_rate = lr_at(step)
        loss, grads = vg(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    val_mae = mx.abs(model(x_va) - y_va).mean().item()
    rec = {"epoch": epoch, "cycle": epoch // CYCLE, "lr_end": round(lr_at(step - 1), 5),
           "train_huber": round(tot / steps_per_epoch, 4), "val_mae_cents": round(val_mae, 3),
           "baseline_mae_cents": round(baseline_mae, 3)}
    if val_mae < best_mae - 1e-3:
        best_mae, best_epoch, bad = val_mae, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
    rec["best"] = round(best_mae, 3)
    print(json.dumps(rec))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
        break

last_mae = mx.abs(model(x_va) - y_va).mean().item()
model.update(best_params)
mx.eval(model.parameters())
restored = mx.abs(model(x_va) - y_va).mean().item()
print(json.dumps({"event": "restore", "last_val_mae": round(last_mae, 3),
                  "restored_val_mae": round(restored, 3),
                  "audit_diff": round(abs(restored - best_mae), 6),
                  "skill_vs_baseline_pct": round(100 * (1 - restored / baseline_mae), 1)}))
