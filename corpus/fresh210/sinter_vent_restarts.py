"""Hot-spring vent: forecast next-hour outflow temperature (degC) from the last
24 hourly readings plus barometric pressure and rainfall. Small 1-D conv net,
compiled train step, SGD with Nesterov momentum on a warm-restart cosine
schedule that starts every cycle from lr = 0."""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s vent: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("vent")
mx.random.seed(11)

H = 24


def make_series(n_hours):
    t = mx.arange(n_hours).astype(mx.float32)
    geyser = 2.5 * mx.sin(2 * math.pi * t / 7.3)           # eruption cycle, ~7.3 h
    daily = 0.8 * mx.sin(2 * math.pi * t / 24.0)
    rain = (mx.random.uniform(shape=(n_hours,)) < 0.06).astype(mx.float32) * mx.random.uniform(2, 9, (n_hours,))
    press = 0.6 * mx.sin(2 * math.pi * t / 130.0) + 0.1 * mx.random.normal((n_hours,))
    # rain cools the pool with a lag; pressure drop pushes temperature up
    cool = mx.zeros((n_hours,))
    kern = mx.array([0.0, 0.35, 0.25, 0.15, 0.08])
    for lag in range(1, 5):
        cool = cool + kern[lag] * mx.concatenate([mx.zeros((lag,)), rain[:-lag]])
    temp = 71.0 + geyser + daily - cool - 1.2 * press + 0.25 * mx.random.normal((n_hours,))
    return temp, press, rain


def windows(temp, press, rain):
    n = temp.shape[0] - H - 1
    idx = mx.arange(n)[:, None] + mx.arange(H)[None, :]
    x = mx.stack([temp[idx], press[idx], rain[idx]], axis=-1)     # (n, 24, 3)
    y = temp[idx[:, -1] + 1]
    return x, y


temp, press, rain = make_series(5200)
X, Y = windows(temp, press, rain)
mu_t, sd_t = temp[:4000].mean(), temp[:4000].std()
Xn = mx.concatenate([(X[..., :1] - mu_t) / sd_t, X[..., 1:2], X[..., 2:] / 5.0], axis=-1)
Yn = (Y - mu_t) / sd_t
ntr = 4000
mx.eval(Xn, Yn)
xtr, ytr, xva, yva = Xn[:ntr], Yn[:ntr], Xn[ntr:], Yn[ntr:]
persist_mae = mx.abs(X[ntr:, -1, 0] - Y[ntr:]).mean().item()   # "same as last hour"


class VentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 16, kernel_size=5)
        self.c2 = nn.Conv1d(16, 16, kernel_size=5, stride=2)
        self.head = nn.Sequential(nn.Linear(16 * 8, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.head(h.reshape(h.shape[0], -1)).squeeze(-1) + x[:, -1, 0]


model = VentNet()
mx.eval(model.parameters())

steps_per_cycle = 150
cycles = 4
warm = 20
peak = [0.05, 0.04, 0.03, 0.02]
# every cycle: linear warm-up from exactly 0, then cosine back down to 0
sched0 = optim.join_schedules(
    [optim.join_schedules([optim.linear_schedule(0.0, p, warm),
                           optim.cosine_decay(p, steps_per_cycle - warm, end=0.0)], [warm])
     for p in peak],
    [steps_per_cycle * (i + 1) for i in range(cycles - 1)])
opt = optim.SGD(learning_rate=sched0, momentum=0.9, nesterov=True)


def loss_fn(x, y):
    pred = model(x)
    return nn.losses.huber_loss(pred, y, delta=0.5, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
    opt.update(model, grads)
    return loss


def val_metrics():
    pred = model(xva)
    mae_c = (mx.abs(pred - yva) * sd_t).mean()
    return loss_fn(xva, yva).item(), mae_c.item()


bs = 100
perm = mx.random.permutation(ntr)
log.info("train windows %d, valid windows %d, persistence MAE %.3f degC", ntr, xva.shape[0], persist_mae)
gstep = 0
for cyc in range(cycles):
    for s in range(1, steps_per_cycle + 1):
        if gstep % (ntr // bs) == 0:
            perm = mx.random.permutation(ntr)
        j = (gstep % (ntr // bs)) * bs
        b = perm[j:j + bs]
        lr_now = opt.learning_rate.item()
        loss = train_step(xtr[b], ytr[b])
        mx.eval(loss, model.state, opt.state)
        gstep += 1
        if s == 1 or s % 30 == 0:
            vl, vmae = val_metrics()
            log.info("cycle %d step %3d lr %.4f | huber %.4f val_huber %.4f | val MAE %.3f degC (persistence %.3f)",
                     cyc, s, lr_now, loss.item(), vl, vmae, persist_mae)
vl, vmae = val_metrics()
log.info("final val MAE %.3f degC vs persistence %.3f degC (%.1f%% of it)", vmae, persist_mae, 100 * vmae / persist_mae)
