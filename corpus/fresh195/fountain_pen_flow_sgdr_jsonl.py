"""Fountain-pen ink flow (uL per metre of line) from nib/ink/paper settings.

Synthetic workshop table, small MLP, SGD + Nesterov momentum under a warm-restart
cosine schedule (SGDR) that starts from lr = 0. One JSON object per line.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(195)
N_TRAIN, N_VAL, BATCH = 6000, 1000, 64
FEATS = ["nib_width_mm", "ink_viscosity_cp", "paper_sizing", "feed_channels", "tine_gap_um", "angle_deg"]


def make_table(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.uniform(-1.0, 1.0, (n, len(FEATS)), key=k1)
    w, v, s, f, g, a = [x[:, i] for i in range(len(FEATS))]
    flow = (
        2.2 + 0.9 * w - 0.7 * v - 0.4 * s + 0.35 * f + 0.6 * g * (1.0 + 0.5 * w)
        - 0.3 * v * s + 0.25 * mx.sin(2.5 * a) + 0.2 * w * w
    )
    flow = flow + 0.05 * mx.random.normal((n,), key=k2)
    return x, flow[:, None]


xtr, ytr = make_table(N_TRAIN, mx.random.key(1))
xva, yva = make_table(N_VAL, mx.random.key(2))
y_mean = ytr.mean()
baseline_mse = mx.mean((yva - y_mean) ** 2).item()


class FlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


model = FlowNet()
CYCLE, CYCLES, PEAK, WARM = 400, 5, 0.08, 40
TOTAL = CYCLE * CYCLES


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM  # step 0 -> exactly 0.0
    pos = (step - WARM) % CYCLE
    return 0.5 * PEAK * (1.0 + math.cos(math.pi * pos / CYCLE))


opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
state = [model.state, opt.state]


def loss_fn(xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
    opt.update(model, grads)
    return loss


# gradient reach check before training
_, g0 = nn.value_and_grad(model, loss_fn)(xtr[:BATCH], ytr[:BATCH])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))
print(json.dumps({"event": "baseline", "predict_mean_val_mse": round(baseline_mse, 5)}))

t0 = time.time()
step = 0
perm_key = mx.random.key(7)
while step < TOTAL:
    perm_key, sub = mx.random.split(perm_key)
    perm = mx.random.permutation(N_TRAIN, key=sub)
    for i in range(0, N_TRAIN, BATCH):
        if step >= TOTAL:
            break
        opt.learning_rate = lr_at(step)
        idx = perm[i:i + BATCH]
        loss = train_step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        step += 1
        if step % 100 == 0 or step in (1, 10):
            val = mx.mean((model(xva) - yva) ** 2).item()
            r2 = 100.0 * (1.0 - val / baseline_mse)
            cyc = 0 if step <= WARM else (step - WARM - 1) // CYCLE + 1
            print(json.dumps({"step": step, "cycle": cyc, "lr": round(lr_at(step - 1), 5),
                              "train_mse": round(loss.item(), 5), "val_mse": round(val, 5),
                              "r2_pct": round(r2, 2)}))

val = mx.mean((model(xva) - yva) ** 2).item()
print(json.dumps({"event": "done", "steps": step, "val_mse": round(val, 5),
                  "baseline_mse": round(baseline_mse, 5), "noise_floor_mse": 0.0025,
                  "seconds": round(time.time() - t0, 2)}))
