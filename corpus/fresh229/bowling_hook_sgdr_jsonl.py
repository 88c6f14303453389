"""Bowling lane: predict ball hook (boards of lateral movement between the
breakpoint and the pocket) from lane-oil and delivery readings.

Compiled AdamW step, learning rate starting at exactly 0, linear warm-up then
cosine warm restarts (the loss goes up a bit right after each restart).
Progress is printed as JSON lines next to a predict-the-mean baseline."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

mx.random.seed(2024)

N_TRAIN, N_VAL = 4096, 1024


def synth(n):
    u = mx.random.uniform(shape=(n, 6))
    oil_len = 32 + 15 * u[:, 0]          # ft
    oil_vol = 18 + 10 * u[:, 1]          # mL
    speed = 14 + 6 * u[:, 2]             # mph
    revs = 200 + 300 * u[:, 3]           # rpm
    tilt = 5 + 20 * u[:, 4]              # degrees
    grit = 500 + 3500 * u[:, 5]          # cover finish
    dry = 60 - oil_len                   # dry boards after the pattern
    hook = (0.35 * dry * (revs / speed) / 20.0
            * (1.0 - 0.012 * (oil_vol - 18))
            * mx.cos(tilt * math.pi / 180.0)
            * (1.3 - 0.15 * mx.log(grit / 500.0)))
    hook = hook + 0.8 * mx.random.normal((n,))
    x = mx.stack([oil_len, oil_vol, speed, revs, tilt, grit], axis=1)
    return x, hook


x_tr, y_tr = synth(N_TRAIN)
x_va, y_va = synth(N_VAL)
mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = y_tr.mean(), y_tr.std()


class HookNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.inp = nn.Linear(6, width)
        self.blocks = [nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU())
                       for _ in range(2)]
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        for b in self.blocks:
            h = h + b(h)
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), (y - y_mu) / y_sd, delta=1.0, reduction="mean")


model = HookNet()
WARM, CYCLE, N_CYCLES = 60, 300, 3
peak = 4e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, WARM)]
    + [optim.cosine_decay(peak * (0.7 ** c), CYCLE, end=1e-5) for c in range(N_CYCLES)],
    [WARM + c * CYCLE for c in range(N_CYCLES)],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

# one-off audit: every trainable tensor receives gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, x_tr[:256], y_tr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def mae_boards(x, y):
    return mx.abs(model(x) * y_sd + y_mu - y).mean().item()


baseline = mx.abs(y_va - y_mu).mean().item()
t0 = time.time()
BS = 128
total = WARM + N_CYCLES * CYCLE
step = 0
run = 0.0
while step < total:
    perm = mx.random.permutation(N_TRAIN)
    for b in range(0, N_TRAIN - BS + 1, BS):
        if step >= total:
            break
        idx = perm[b:b + BS]
        lr_now = sched(mx.array(step)).item()
        loss = train_step(x_tr[idx], y_tr[idx])
        mx.eval(state, loss)
        run += loss.item()
        step += 1
        if step % 40 == 0 or step == 1:
            n = 1 if step == 1 else 40
            print(json.dumps({"step": step, "lr": round(lr_now, 6), "huber": round(run / n, 5),
                              "val_mae_boards": round(mae_boards(x_va, y_va), 3),
                              "mean_baseline_boards": round(baseline, 3)}))
            run = 0.0
final = mae_boards(x_va, y_va)
print(json.dumps({"event": "done", "val_mae_boards": round(final, 3),
                  "skill_vs_baseline_pct": round(100 * (1 - final / baseline), 1),
                  "seconds": round(time.time() - t0, 1)}))
