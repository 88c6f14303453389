# Hourglass workshop: predict the run time (seconds) of a freshly filled glass
# from bench measurements. Trained in three stages of increasing difficulty:
# dry quartz sand -> mixed sands -> humid-room glasses (clumping adds a
# multiplicative slowdown). Each stage restarts its own step counter and its
# LR warms up from exactly 0.
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(137)
mx.random.seed(137)


def make_glasses(n, stage):
    neck = rng.uniform(2.0, 6.0, n)            # mm
    grain = rng.uniform(0.08, 0.35, n)          # mm
    fill = rng.uniform(40.0, 400.0, n)          # g
    humid = rng.uniform(20.0, 45.0, n) if stage < 2 else rng.uniform(45.0, 90.0, n)
    tilt = rng.normal(0.0, 1.5, n)              # degrees
    sand = rng.integers(0, 3, n) if stage >= 1 else np.zeros(n, dtype=int)
    density = np.array([1.0, 1.12, 0.91])[sand]
    # Beverloo-like law: flow ~ (neck - k*grain)^2.5
    flow = 0.9 * density * np.clip(neck - 1.4 * grain, 0.5, None) ** 2.5
    t = fill / flow * (1.0 + 0.004 * tilt ** 2)
    if stage == 2:
        t *= 1.0 + 0.012 * (humid - 45.0) * (grain < 0.2)
    t *= rng.lognormal(0.0, 0.03, n)
    onehot = np.eye(3)[sand]
    X = np.column_stack([neck, grain, np.log(fill), humid / 50.0, tilt, onehot])
    return X.astype(np.float32), np.log(t).astype(np.float32)[:, None]


stages = []
for s in range(3):
    Xtr, ytr = make_glasses(4000, s)
    Xva, yva = make_glasses(800, s)
    stages.append((Xtr, ytr, Xva, yva))

mu = stages[0][0].mean(0)
sd = stages[0][0].std(0) + 1e-3
sd[5:] = 1.0
mu[5:] = 0.0


class GlassNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


model = GlassNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


steps_per_stage = [700, 700, 900]
batch = 128
t0 = time.time()
for s, (Xtr, ytr, Xva, yva) in enumerate(stages):
    n_steps = steps_per_stage[s]
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, n_steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.Adamax(learning_rate=sched)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    xtr = mx.array((Xtr - mu) / sd)
    yt = mx.array(ytr)
    xva = mx.array((Xva - mu) / sd)
    yv = mx.array(yva)
    # reference: predict the stage's training mean run time
    base_mape = float(np.mean(np.abs(np.exp(yva) - np.exp(ytr.mean())) / np.exp(yva)) * 100)
    perm = rng.permutation(len(Xtr))
    pos = 0
    run = 0.0
    for k in range(n_steps):
        if pos + batch > len(Xtr):
            perm = rng.permutation(len(Xtr))
            pos = 0
        idx = mx.array(perm[pos:pos + batch])
        pos += batch
        loss = step(xtr[idx], yt[idx])
        mx.eval(loss, model.parameters(), opt.state)
        run = 0.9 * run + 0.1 * loss.item() if k else loss.item()
        if k % 100 == 0 or k == n_steps - 1:
            pred = model(xva)
            mape = mx.mean(mx.abs(mx.exp(pred) - mx.exp(yv)) / mx.exp(yv)).item() * 100
            print(json.dumps({
                "stage": s, "step": k, "lr": round(float(opt.learning_rate.item()), 6),
                "huber": round(run, 5), "val_mape_pct": round(mape, 2),
                "ref_mape_pct": round(base_mape, 2),
            }))
print(json.dumps({"done": True, "seconds": round(time.time() - t0, 1)}))
