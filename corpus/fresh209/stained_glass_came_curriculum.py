"""Stained-glass workshop: predict the pull-out strength (newtons) of a soldered
lead-came joint from six bench measurements.  Trained with a 3-stage curriculum:
first only 'easy' joints (narrow ranges), then wider ranges, then joints with the
flux/temperature interaction switched on.  Each new stage makes the loss jump."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)


def make_joints(n, spread, interaction, key):
    k1, k2 = mx.random.split(key)
    # came width mm, solder temp C, flux amount, tin %, joint length mm, patina age
    x = mx.random.normal((n, 6), key=k1) * spread
    w = mx.array([9.0, 6.0, -4.0, 5.0, 3.0, -2.5])
    y = 60.0 + x @ w + 3.0 * mx.tanh(x[:, 0])
    if interaction:
        y = y + 7.0 * x[:, 1] * x[:, 2] - 4.0 * mx.square(x[:, 3])
    y = y + 1.0 * mx.random.normal((n,), key=k2)
    return x, y


class JointNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + 60.0


stages = [("easy", 0.5, False), ("wide", 1.0, False), ("flux", 1.0, True)]
steps_per_stage = 220
total = steps_per_stage * len(stages)
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 2e-4)],
    [warm],
)

model = JointNet()
opt = optim.Adam(learning_rate=sched)
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state, mx.random.state]




from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# one gradient check before training: every trainable tensor must get signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, *make_joints(64, 1.0, True, mx.random.key(5)))
gnorms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_check", "zero_grads": [k for k, v in gnorms.items() if v == 0.0],
                  "n_tensors": len(gnorms)}))

key = mx.random.key(2024)
t0 = time.time()
gstep = 0
for si, (name, spread, inter) in enumerate(stages):
    key, kv = mx.random.split(key)
    xv, yv = make_joints(1500, spread, inter, kv)
    base = float(mx.mean(mx.square(yv - mx.mean(yv))))  # predict-the-mean MSE
    for s in range(steps_per_stage):
        key, kb = mx.random.split(key)
        xb, yb = make_joints(128, spread, inter, kb)
        lr_now = float(sched(gstep))
        loss = step(xb, yb)
        mx.eval(loss, model.parameters(), opt.state)
        gstep += 1
        if s % 44 == 0 or s == steps_per_stage - 1:
            val = float(loss_fn(model, xv, yv))
            print(json.dumps({"stage": name, "it": s, "global": gstep, "lr": round(lr_now, 6),
                              "train_mse_N2": round(float(loss), 3), "val_mse_N2": round(val, 3),
                              "mean_baseline_N2": round(base, 2),
                              "val_rmse_N": round(math.sqrt(val), 3)}))

xt, yt = make_joints(3000, 1.0, True, mx.random.key(99))
rmse = math.sqrt(float(loss_fn(model, xt, yt)))
sd = float(mx.sqrt(mx.mean(mx.square(yt - mx.mean(yt)))))
print(json.dumps({"event": "done", "test_rmse_N": round(rmse, 3), "test_sd_N": round(sd, 2),
                  "noise_floor_N": 1.0, "seconds": round(time.time() - t0, 2)}))
