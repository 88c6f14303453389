"""Tram depot: estimate carbon-strip wear (mm) of a pantograph from a 24-sample
contact-force trace.  Two curriculum stages: clean depot traces, then noisy line-side
traces with random offset (the loss jumps at the stage switch on purpose).
Compiled step, warm-up from lr exactly 0, one JSON line per report."""
import json
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(31)
T = 24


def make_traces(n, noise, offset):
    wear = mx.random.uniform(0.0, 12.0, (n,))                     # mm
    speed = mx.random.uniform(0.3, 1.0, (n, 1))
    t = mx.arange(T).astype(mx.float32)[None, :]
    base = 70 + 4 * wear[:, None] * mx.sin(t * 0.5 * speed) + 1.5 * wear[:, None] * speed
    f = base + noise * mx.random.normal((n, T)) + offset * mx.random.normal((n, 1))
    return ((f - 80.0) / 20.0)[..., None], wear


class StripNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5)
        self.c2 = nn.Conv1d(16, 16, kernel_size=5)
        self.head = nn.Sequential(nn.Linear(16 * 2, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x):
        h = nn.gelu(self.c2(nn.gelu(self.c1(x))))
        feat = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(feat).squeeze(-1)


model = StripNet()
WARM, TOTAL = 60, 600
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM])
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


stages = [("depot", 0.5, 0.0), ("lineside", 4.0, 3.0)]
held = {name: make_traces(800, nz, off) for name, nz, off in stages}
mean_wear = 6.0
g = 0
for stage, nz, off in stages:
    for k in range(TOTAL // 2):
        x, y = make_traces(64, nz, off)
        lr_now = opt.learning_rate.item()
        loss = step(x, y)
        mx.eval(state, loss)
        g += 1
        if k % 50 == 0 or k == TOTAL // 2 - 1:
            hx, hy = held[stage]
            mae = mx.abs(model(hx) - hy).mean().item()
            rec = {"stage": stage, "k": k, "global": g, "lr": round(lr_now, 6),
                   "huber": round(loss.item(), 4), "mae_mm": round(mae, 3),
                   "mae_mm_const_baseline": round(mx.abs(hy - mean_wear).mean().item(), 3)}
            print(json.dumps(rec))

for name in held:
    hx, hy = held[name]
    print(json.dumps({"final": name, "mae_mm": round(mx.abs(model(hx) - hy).mean().item(), 3)}))
