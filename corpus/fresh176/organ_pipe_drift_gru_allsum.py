# Church organ tuning drift forecaster.
# Reed pipes drift in pitch (cents) with nave temperature and humidity.  From the last
# 24 hourly readings we forecast the next 6 hours of drift for the trumpet rank.
# Single-process mx.distributed all_sum of gradients (the same script runs on a cluster),
# lr ramps up from exactly 0, logging module, early stopping that restores the best weights.
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname).1s organ| %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("organ")

world = mx.distributed.init()
rank, size = world.rank(), world.size()

rs = np.random.default_rng(9176 + rank)
HOURS, LOOK, HZN = 2400, 24, 6
t = np.arange(HOURS)
temp = 14 + 4 * np.sin(2 * np.pi * t / 24 - 1.0) + 3 * np.sin(2 * np.pi * t / (24 * 7)) + rs.normal(0, 0.4, HOURS)
service = ((t % (24 * 7) >= 24 * 6 + 9) & (t % (24 * 7) < 24 * 6 + 12)).astype(float)   # Sunday heating
temp += 3 * service
hum = 60 + 10 * np.sin(2 * np.pi * t / (24 * 9)) + rs.normal(0, 1.0, HOURS)
# reeds go flat when warm relative to the flues; lag through the pipe metal (exponential smoothing)
drift = np.zeros(HOURS)
for i in range(1, HOURS):
    target = -2.2 * (temp[i] - 14) + 0.15 * (hum[i] - 60)
    drift[i] = drift[i - 1] + 0.25 * (target - drift[i - 1]) + rs.normal(0, 0.3)

feat = np.stack([(temp - 14) / 4, (hum - 60) / 10, drift / 10, service], 1).astype(np.float32)
starts = np.arange(0, HOURS - LOOK - HZN)
Xw = np.stack([feat[s:s + LOOK] for s in starts])
Yw = np.stack([drift[s + LOOK:s + LOOK + HZN] / 10 for s in starts]).astype(np.float32)
n_tr, n_va = int(0.7 * len(starts)), int(0.15 * len(starts))
Xtr, Ytr = mx.array(Xw[:n_tr]), mx.array(Yw[:n_tr])
Xva, Yva = mx.array(Xw[n_tr:n_tr + n_va]), mx.array(Yw[n_tr:n_tr + n_va])
Xte, Yte = mx.array(Xw[n_tr + n_va:]), mx.array(Yw[n_tr + n_va:])
persist_va = float(np.mean(np.abs(Yw[n_tr:n_tr + n_va] - Xw[n_tr:n_tr + n_va, -1, 2:3]))) * 10


class DriftGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 32)
        self.out = nn.Linear(32, HZN)

    def __call__(self, x):
        h = self.rnn(x)[:, -1]
        return self.out(h) + x[:, -1, 2:3]      # forecast the change from the last drift


net = DriftGRU()
mx.eval(net.parameters())
EPOCHS, BS = 40, 128
steps_per = math.ceil(n_tr / BS)
warm = 2 * steps_per
lr = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, warm),
                           optim.cosine_decay(4e-3, EPOCHS * steps_per - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


vg = nn.value_and_grad(net, loss_fn)
state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = vg(net, x, y)
    g = tree_map(lambda a: mx.distributed.all_sum(a, group=world) / size, g)
    opt.update(net, g)
    return loss


def cents_mae(x, y):
    return mx.mean(mx.abs(net(x) - y)).item() * 10


log.info("world size %d rank %d | %d train windows, look-back %dh, horizon %dh", size, rank, n_tr, LOOK, HZN)
log.info("persistence (repeat last reading) val error %.2f cents", persist_va)
best, best_ep, patience, bad = float("inf"), -1, 6, 0
best_w = None
t0 = time.time()
for ep in range(EPOCHS):
    order = mx.array(rs.permutation(n_tr))
    tot = 0.0
    for b in range(steps_per):
        idx = order[b * BS:(b + 1) * BS]
        l = step(Xtr[idx], Ytr[idx])
        mx.eval(state, l)
        tot += l.item()
    va = cents_mae(Xva, Yva)
    if va < best - 1e-3:
        best, best_ep, bad = va, ep, 0
        best_w = tree_map(lambda a: mx.array(a), net.parameters())
    else:
        bad += 1
    if ep % 8 == 0:
        log.info("ep %02d huber %.5f val %.3f c (best %.3f @%d) lr %.2e", ep, tot / steps_per, va, best, best_ep, opt.learning_rate.item())
    if bad >= patience:
        log.info("no val gain for %d epochs at ep %d, stopping", patience, ep)
        break

net.update(best_w)
mx.eval(net.parameters())
g = vg(net, Xtr[:256], Ytr[:256])[1]
zero = [k for k, v in tree_flatten(g) if mx.all(v == 0).item()]
log.info("restored ep %d weights: val %.3f c, test %.3f c, persistence val %.2f c, zero-grad tensors %s, %.1fs",
         best_ep, cents_mae(Xva, Yva), cents_mae(Xte, Yte), persist_va, zero or "none", time.time() - t0)
