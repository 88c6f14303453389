# Linotype hot-metal line caster: predict slug face hardness (Vickers-like units,
# around 66) from caster readings.  Two batches of synthetic logs: fresh type metal
# first, then remelted metal with dross, extra nonlinear effects and more noise.
# Each stage restarts its step counter and warms the LR up from exactly 0.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

FEATS = ["antimony_pct", "pot_temp_c", "mould_temp_c", "plunger_psi",
         "cooling_water_c", "dross_pct", "room_c"]


def make_season(n, late, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, len(FEATS)), key=k1)
    # made-up metallurgy: hardness ~ 66 + cooling / antimony effects etc.
    y = 0.9 * x[:, 4] + 0.35 * x[:, 0] - 0.25 * x[:, 2] + 0.2 * x[:, 3] * x[:, 1]
    if late:
        # remelted metal: dross and room temperature interact, antimony saturates
        y = y + 0.45 * mx.tanh(2.0 * x[:, 5]) * x[:, 6] - 0.3 * mx.square(x[:, 0]) + 0.3
        noise = 0.25
    else:
        noise = 0.08
    y = y + noise * mx.random.normal((n,), key=k2)
    return x, (66.0 + 1.2 * y)[:, None]


class SlugNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return 66.0 + self.out(h)


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


model = SlugNet(len(FEATS))
mx.eval(model.parameters())

keys = mx.random.split(mx.random.key(5), 4)
stages = [
    ("fresh_metal", make_season(768, False, keys[0]), make_season(256, False, keys[1]), 700),
    ("remelt_with_dross", make_season(768, True, keys[2]), make_season(256, True, keys[3]), 800),
]

loss_and_grad = nn.value_and_grad(model, mse)

# check that every weight receives a gradient before training
_, g0 = loss_and_grad(model, stages[0][1][0][:64], stages[0][1][1][:64])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "n_tensors": len(tree_flatten(g0)),
                  "zero_grad_tensors": zero}))

t0 = time.time()
batch = 64
for stage_name, (xtr, ytr), (xva, yva), steps in stages:
    warm = 80
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, warm),
         optim.cosine_decay(3e-4, steps - warm, 3e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    base_mse = float(mx.mean(mx.square(yva - mx.mean(ytr))))
    n = xtr.shape[0]
    for step in range(steps):
        idx = mx.random.randint(0, n, (batch,))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps - 1:
            va = float(mse(model, xva, yva))
            rec = {
                "stage": stage_name,
                "step": step,
                "lr": round(float(opt.learning_rate), 7),
                "train_mse_hv2": round(float(loss), 4),
                "val_rmse_hv": round(math.sqrt(va), 4),
                "mean_predictor_rmse_hv": round(math.sqrt(base_mse), 4),
                "within_0.5hv_pct": round(100.0 * float(mx.mean(mx.abs(model(xva) - yva) < 0.5)), 1),
            }
            print(json.dumps(rec))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2)}))
