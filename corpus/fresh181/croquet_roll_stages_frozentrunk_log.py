"""Croquet lawn: predict how far (m) a ball rolls from mallet speed, swing angle and
lawn state. Stage 'flat' uses a dry level lawn; stage 'wet_slope' adds dew and a slope,
so error jumps when it starts. In stage 2 the first trunk layer is frozen on purpose
and only the rest of the net adapts. Compiled step, SGD with Nesterov momentum."""
import logging
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s croquet: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("croquet")
rng = np.random.default_rng(4181)


def make_lawn(n, wet, slope):
    speed = rng.uniform(1.0, 4.0, n)            # m/s off the mallet
    angle = rng.uniform(-0.4, 0.4, n)           # rad off the line of the hoop
    dew = rng.uniform(0, 1, n) * wet            # 0 dry .. 1 soaked
    grade = rng.uniform(-1, 1, n) * slope       # % grade along the roll
    mu = 0.09 + 0.06 * dew                      # rolling friction grows with dew
    dist = speed ** 2 / (2 * 9.81 * (mu + 0.01 * grade)) * np.cos(angle) ** 2
    dist = dist + rng.normal(0, 0.15, n)
    X = np.stack([speed, angle, dew, grade], 1).astype(np.float32)
    return mx.array(X), mx.array(dist.astype(np.float32)[:, None])


class RollNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def bar(i, n, width=24):
    k = int(width * i / n)
    return "[" + "#" * k + "." * (width - k) + f"] {i}/{n}"


model = RollNet()
mx.eval(model.parameters())

stages = [
    dict(name="flat", wet=0.0, slope=0.0, steps=600, lr=0.01),
    dict(name="wet_slope", wet=1.0, slope=1.0, steps=900, lr=0.006),
]
for s_i, st in enumerate(stages):
    Xtr, Ytr = make_lawn(4000, st["wet"], st["slope"])
    Xva, Yva = make_lawn(800, st["wet"], st["slope"])
    if s_i == 1:
        model.l1.freeze()  # keep the stage-1 feature layer as is
    trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
    log.info("stage %d/%d '%s': trainable tensors %s", s_i + 1, len(stages), st["name"], trainable)
    opt = optim.SGD(learning_rate=st["lr"], momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, mse)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        return loss, g

    baseline = float(mx.mean((Yva - mx.mean(Ytr)) ** 2))
    before = float(mse(model, Xva, Yva))
    log.info("entering stage: val mse %.4f  (predict-the-mean %.4f)", before, baseline)
    frozen_before = np.array(model.l1.weight)
    t0 = time.time()
    running = []
    for it in range(1, st["steps"] + 1):
        sel = mx.array(rng.integers(0, Xtr.shape[0], 128))
        loss, g = step(Xtr[sel], Ytr[sel])
        mx.eval(loss, model.state, opt.state)
        running.append(float(loss))
        if it == 1:
            norms = {k: round(float(mx.linalg.norm(v)), 4) for k, v in tree_flatten(g)}
            log.info("grad norms at first step: %s", norms)
        if it % 150 == 0:
            v = float(mse(model, Xva, Yva))
            log.info("%s loss=%.4f val=%.4f %.0f it/s", bar(it, st["steps"]), np.mean(running[-150:]), v,
                     it / (time.time() - t0))
    after = float(mse(model, Xva, Yva))
    drift = float(np.abs(np.array(model.l1.weight) - frozen_before).max())
    rmse_cm = 100 * after ** 0.5
    log.info("stage '%s' done: val mse %.4f -> %.4f, rmse %.1f cm, l1 max change %.2e", st["name"], before,
             after, rmse_cm, drift)
log.info("finished")
