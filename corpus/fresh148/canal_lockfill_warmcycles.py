# Canal lock fill-time regressor: predict minutes to fill a lock chamber from
# gate/paddle geometry.  Three curriculum legs (single locks -> staircase flights ->
# gusty tailwater noise); each leg restarts its step counter and its LR from exactly 0.
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
LEG_STEPS = 150
WARM = 30
PEAK = 4e-3


def make_locks(n, leg, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    lift = 1.5 + 6.0 * u[:, 0]            # metres of rise
    area = 200 + 600 * u[:, 1]            # chamber plan area m^2
    paddles = 1 + mx.floor(4 * u[:, 2])   # open paddles
    opening = 0.3 + 0.7 * u[:, 3]         # paddle opening fraction
    flight = mx.ones_like(lift) if leg == 0 else 1 + mx.floor(3 * u[:, 4])
    tail = u[:, 5]
    q = paddles * opening * mx.sqrt(lift)                # discharge proxy
    minutes = 0.012 * area * lift / q * (1 + 0.35 * (flight - 1)) / 6.0
    minutes = minutes + (0.8 * tail * (flight - 1) if leg >= 1 else 0.0)
    if leg == 2:
        minutes = minutes + 0.25 * mx.random.normal(minutes.shape, key=k2)
    x = mx.stack([lift / 7.5, area / 800, paddles / 4, opening, flight / 3, tail], axis=1)
    return x, minutes


class FillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 40)
        self.norm = nn.LayerNorm(40)
        self.mid = nn.Linear(40, 40)
        self.head = nn.Linear(40, 1)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.mid(h))
        return self.head(h).squeeze(-1)


def restartable_lr(step):
    s = step % LEG_STEPS
    warm = mx.minimum(s / WARM, 1.0)
    cos = 0.5 * (1 + mx.cos(math.pi * mx.maximum(s - WARM, 0) / (LEG_STEPS - WARM)))
    return PEAK * warm * (0.1 + 0.9 * cos)


model = FillNet()
opt = optim.Adamax(learning_rate=restartable_lr)
mx.eval(model.parameters())


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, huber)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def audit(x, y):
    _, g = grad_fn(model, x, y)
    flat = tree_flatten(g)
    zero = sum(1 for _, v in flat if mx.abs(v).max().item() == 0.0)
    gn = math.sqrt(sum((v * v).sum().item() for _, v in flat))
    return len(flat), zero, gn


key = mx.random.key(3)
for leg, name in enumerate(["single", "staircase", "gusty"]):
    key, ktr, kva = mx.random.split(key, 3)
    xtr, ytr = make_locks(2048, leg, ktr)
    xva, yva = make_locks(512, leg, kva)
    base_mae = mx.abs(yva - ytr.mean()).mean().item()
    n, zero, gn = audit(xtr[:256], ytr[:256])
    print(json.dumps({"leg": name, "event": "audit", "tensors": n, "zero_grad": zero,
                      "grad_l2": round(gn, 4), "baseline_mae_min": round(base_mae, 3)}))
    perm_key = key
    for it in range(LEG_STEPS):
        perm_key, sub = mx.random.split(perm_key)
        idx = mx.random.randint(0, 2048, (128,), key=sub)
        loss = step(xtr[idx], ytr[idx])
        mx.eval(loss, state)
        if it % 25 == 0 or it == LEG_STEPS - 1:
            mae = mx.abs(model(xva) - yva).mean().item()
            print(json.dumps({"leg": name, "step": it, "lr": round(opt.learning_rate.item(), 6),
                              "huber": round(loss.item(), 4), "val_mae_min": round(mae, 3),
                              "vs_mean_pct": round(100 * (1 - mae / base_mae), 1)}))

mae = mx.abs(model(xva) - yva).mean().item()
print(f"done: final gusty-leg MAE {mae:.3f} min (mean predictor {base_mae:.3f} min)")
