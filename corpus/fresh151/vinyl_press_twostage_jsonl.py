# Vinyl pressing plant: predict surface noise (dB) and off-centre wobble (um) of a
# pressed record from 7 press-log readings. Stage A: press 1 only (calm, well tuned);
# stage B: press 2 joins (older steam valve, extra nonlinearity, noisier readings).
# Each stage gets a fresh optimizer and a warmup from lr = 0.  Logs as JSON lines.
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.default_rng(1957)


def press_batch(n, press):
    # steam temp, cycle time, puck weight, vinyl PVC moisture, mould wear, stamper age, ram force
    x = rs.normal(size=(n, 7)).astype(np.float32)
    noise_db = -62.0 + 3.0 * x[:, 3] + 2.0 * np.tanh(x[:, 0] - x[:, 1]) + 1.5 * x[:, 5] ** 2 / 2
    wobble_um = 40.0 + 12.0 * np.abs(x[:, 4]) + 6.0 * x[:, 2] * x[:, 6]
    if press == 2:
        noise_db += 2.5 * np.sin(2.0 * x[:, 0]) * (x[:, 6] > 0)
        wobble_um += 8.0 * np.maximum(x[:, 1], 0.0)
        sd_n, sd_w = 1.2, 5.0
    else:
        sd_n, sd_w = 0.5, 2.0
    noise_db += sd_n * rs.normal(size=n)
    wobble_um += sd_w * rs.normal(size=n)
    y = np.stack([noise_db, wobble_um], axis=1).astype(np.float32)
    return x, y


# fixed target scaling (from the press-1 calibration sheet)
Y_MU = np.array([-61.0, 49.0], np.float32)
Y_SD = np.array([3.5, 10.0], np.float32)

xa, ya = press_batch(3000, 1)
xb2, yb2 = press_batch(3000, 2)
stage_data = {
    "A": (xa, ya),
    "B": (np.concatenate([xa, xb2]), np.concatenate([ya, yb2])),
}
val = {"A": press_batch(800, 1), "B": press_batch(800, 2)}


class PressNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 2)

    def __call__(self, x):
        return self.out(self.body(x))


mx.random.seed(11)
net = PressNet()


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def mae_units(model, x, y):
    pred = model(mx.array(x)) * mx.array(Y_SD) + mx.array(Y_MU)
    return mx.abs(pred - mx.array(y)).mean(axis=0)


summary = []
t0 = time.time()
for stage, steps in (("A", 500), ("B", 700)):
    X, Y = stage_data[stage]
    Yz = (Y - Y_MU) / Y_SD
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, steps - 60, 1e-5)], [60])
    opt = optim.Adamax(learning_rate=sched)
    state = [net.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, g = nn.value_and_grad(net, loss_fn)(net, x, y)
        opt.update(net, g)
        return loss

    vx, vy = val[stage]
    ref = np.abs(vy - vy.mean(axis=0)).mean(axis=0)  # predict-the-mean reference
    for step in range(steps):
        idx = rs.integers(0, len(X), size=128)
        loss = train_step(mx.array(X[idx]), mx.array(Yz[idx]))
        mx.eval(state, loss)
        if step % 50 == 0 or step == steps - 1:
            m = mae_units(net, vx, vy)
            rec = {"stage": stage, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                   "huber": round(loss.item(), 5),
                   "val_noise_mae_db": round(m[0].item(), 3), "val_wobble_mae_um": round(m[1].item(), 3),
                   "ref_noise_mae_db": round(float(ref[0]), 3), "ref_wobble_mae_um": round(float(ref[1]), 3)}
            print(json.dumps(rec), flush=True)
    summary.append((stage, round(m[0].item(), 3), round(m[1].item(), 3)))

print(json.dumps({"summary": summary, "wall_s": round(time.time() - t0, 1)}))
