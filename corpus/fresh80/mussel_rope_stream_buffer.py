# Mussel longline farm: predict rope weight gain (kg/m per week) from sea temperature,
# chlorophyll, salinity, stocking density and rope age. Data arrives as a stream of weekly
# survey batches; a FIFO buffer keeps at most 3000 rows (grows, then holds at the cap).
# Compiled Adam step with model/optimizer state as inputs/outputs.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(5)
MEAN = np.array([14.0, 3.0, 33.0, 400.0, 20.0], np.float32)
SCALE = np.array([3.0, 1.5, 1.5, 120.0, 10.0], np.float32)


def survey(n):
    temp = rs.uniform(8, 20, n); chl = rs.gamma(2.0, 1.5, n); sal = rs.uniform(30, 36, n)
    dens = rs.uniform(200, 600, n); age = rs.uniform(2, 40, n)
    g = (0.9 * np.exp(-((temp - 15.0) / 4.0) ** 2) * chl / (1.0 + 0.4 * chl)
         * (1 - 0.3 * ((sal - 34) / 3) ** 2) * (1.0 - dens / 1200.0) * np.exp(-age / 60.0))
    g = g + rs.normal(0, 0.03, n)
    X = (np.stack([temp, chl, sal, dens, age], 1).astype(np.float32) - MEAN) / SCALE
    return X, g.astype(np.float32)


class GrowthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.tanh(self.l1(x))
        h = h + nn.tanh(self.l2(h))
        return self.out(h)[:, 0]


mx.random.seed(0)
net = GrowthNet()
opt = optim.Adam(learning_rate=1e-3)
mx.eval(net.parameters())


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(net, loss_fn)(net, x, y)
    opt.update(net, grads)
    return loss


Xv, yv = survey(2000)
Xv_m = mx.array(Xv)
CAP, WEEKLY, STEPS_PER_WEEK, BS = 3000, 150, 25, 64
buf_X = np.zeros((0, 5), np.float32)
buf_y = np.zeros((0,), np.float32)

print("week ; buffer_rows ; buffer_MB ; train_mse ; holdout_mae_g_per_m ; secs")
t0 = time.time()
for week in range(1, 61):
    Xn, yn = survey(WEEKLY)
    buf_X = np.concatenate([buf_X, Xn])[-CAP:]
    buf_y = np.concatenate([buf_y, yn])[-CAP:]
    if week == 1:
        _, g = nn.value_and_grad(net, loss_fn)(net, mx.array(buf_X[:BS]), mx.array(buf_y[:BS]))
        flat = tree_flatten(g)
        print("# first-step gradient: %d leaves, zero leaves: %s" % (
            len(flat), [k for k, v in flat if not mx.any(v != 0).item()]))
    losses = []
    for _ in range(STEPS_PER_WEEK):
        idx = rs.randint(0, len(buf_y), BS)
        loss = train_step(mx.array(buf_X[idx]), mx.array(buf_y[idx]))
        mx.eval(state, loss)
        losses.append(loss.item())
    if week in (1, 2, 5) or week % 10 == 0:
        mae = float(mx.mean(mx.abs(net(Xv_m) - mx.array(yv))).item()) * 1000.0
        mb = (buf_X.nbytes + buf_y.nbytes) / 1e6
        print(week, len(buf_y), "%.3f" % mb, "%.5f" % np.mean(losses), "%.1f" % mae,
              "%.1f" % (time.time() - t0), sep=" ; ")
print("# predict-mean holdout mae: %.1f g/m ; noise mae floor ~%.1f g/m" % (
    np.mean(np.abs(yv - yv.mean())) * 1000, 0.03 * np.sqrt(2 / np.pi) * 1000))
