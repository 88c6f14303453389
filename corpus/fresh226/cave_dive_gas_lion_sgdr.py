# Cave-diving gas planning: predict bar of back-gas used on a dive from the
# dive log, trained with Lion on warm restarts (SGDR, each cycle ramps up from
# lr = 0) inside a compiled train step.  One JSON object per log line.
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N_TRAIN, N_VAL = 4096, 1024


def make_dives(n):
    k = mx.random.split(mx.random.key(11 + n), 7)
    depth = mx.random.uniform(8.0, 60.0, (n,), key=k[0])            # m
    bottom = mx.random.uniform(10.0, 90.0, (n,), key=k[1])          # min
    temp = mx.random.uniform(4.0, 24.0, (n,), key=k[2])             # deg C
    work = mx.random.uniform(0.0, 1.0, (n,), key=k[3])              # flow / effort
    years = mx.random.uniform(0.0, 20.0, (n,), key=k[4])            # experience
    tank = mx.array([10.0, 12.0, 15.0, 24.0])[
        mx.random.randint(0, 4, (n,), key=k[5])]                     # litres (twinset total)
    sac = 11.0 + 9.0 * work - 0.25 * years + 0.18 * (24.0 - temp)  # L/min at surface
    ata = depth / 10.0 + 1.0
    litres = sac * ata * bottom
    bar = litres / tank
    bar = bar * (1.0 + 0.04 * mx.random.normal((n,), key=k[6]))
    x = mx.stack([depth / 60.0, bottom / 90.0, temp / 24.0, work, years / 20.0,
                  tank / 24.0], axis=1)
    return x, bar


x_tr, y_tr = make_dives(N_TRAIN)
x_va, y_va = make_dives(N_VAL)
mu, sd = y_tr.mean(), y_tr.std()
z_tr = (y_tr - mu) / sd
mx.eval(x_tr, y_tr, x_va, y_va, mu, sd, z_tr)
ref_rmse = mx.sqrt(mx.mean((y_va - mu) ** 2)).item()   # always-the-mean planner


class GasNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.l3(h).squeeze(-1)


model = GasNet()
opt = optim.Lion(learning_rate=0.0, betas=[0.9, 0.99], weight_decay=1e-4)


def loss_fn(m, xb, zb):
    return mx.mean((m(xb) - zb) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, zb):
    loss, grads = grad_fn(model, xb, zb)
    opt.update(model, grads)
    return loss


def val_rmse():
    pred = model(x_va) * sd + mu
    return mx.sqrt(mx.mean((pred - y_va) ** 2)).item()


PEAK, WARM, BATCH = 6e-4, 25, 128
cycles = [160, 320, 640]
t0 = time.time()
gstep = 0
for c, length in enumerate(cycles):
    for t in range(length):
        if t < WARM:
            lr = PEAK * t / WARM                      # exactly 0 at t == 0
        else:
            p = (t - WARM) / (length - WARM)
            lr = 0.5 * PEAK * (1.0 + math.cos(math.pi * p))
        opt.learning_rate = lr
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss = train_step(x_tr[idx], z_tr[idx])
        mx.eval(loss, model.state, opt.state)
        gstep += 1
        if t % 40 == 0 or t == length - 1:
            print(json.dumps({"cycle": c, "t": t, "lr": round(lr, 7),
                              "mse_z": round(loss.item(), 5),
                              "rmse_bar": round(val_rmse(), 3),
                              "ref_rmse_bar": round(ref_rmse, 3)}))

print(json.dumps({"summary": True, "steps": gstep, "rmse_bar": round(val_rmse(), 3),
                  "ref_rmse_bar": round(ref_rmse, 3), "sec": round(time.time() - t0, 2)}))
