"""Bicycle wheel truing: predict lateral rim runout (mm) at 8 stations around the
rim from the 32 spoke tension deviations (kgf) measured with a tensiometer.

Two-stage curriculum: stage "gentle" uses lightly-out-of-true wheels, stage
"crash" uses crash-damaged wheels (bigger deviations, a bent-rim offset term and
more gauge noise), so the loss jumps up when the second stage starts.
Gradients go through mx.distributed (single process here, all_sum is identity
but keeps the script ready for a multi-Mac run).
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s truing: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("truing")

N_SPOKES = 32
N_STATIONS = 8
rng = np.random.default_rng(1894)

# made-up influence law: a spoke pulls the rim toward its flange side, spread
# over neighbouring stations with a cosine kernel
angles_sp = np.arange(N_SPOKES) * 2 * np.pi / N_SPOKES
angles_st = np.arange(N_STATIONS) * 2 * np.pi / N_STATIONS
side = np.where(np.arange(N_SPOKES) % 2 == 0, 1.0, -1.0)          # drive / non-drive flange
dist = np.abs(np.angle(np.exp(1j * (angles_st[None, :] - angles_sp[:, None]))))
kernel = (np.exp(-(dist / 0.45) ** 2) * side[:, None]).astype(np.float32)  # 32 x 8


def make_wheels(n, spread, bent, noise):
    dev = rng.normal(0.0, spread, size=(n, N_SPOKES)).astype(np.float32)
    runout = 0.09 * dev @ kernel
    runout = runout + 0.015 * np.tanh(dev @ kernel) ** 3 * spread
    if bent > 0:
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
        amp = rng.uniform(0, bent, size=(n, 1))
        runout = runout + amp * np.cos(angles_st[None, :] - phase) ** 2
        # the bend also leaves a tension signature on the two spokes nearest the kink
        idx = (phase[:, 0] / (2 * np.pi) * N_SPOKES).astype(int) % N_SPOKES
        dev[np.arange(n), idx] += (amp[:, 0] * 8.0).astype(np.float32)
    runout = runout + rng.normal(0.0, noise, size=runout.shape)
    return mx.array(dev / 10.0), mx.array(runout.astype(np.float32))


STAGES = [
    dict(name="gentle", spread=4.0, bent=0.0, noise=0.03, epochs=6, lr=2e-3),
    dict(name="crash", spread=9.0, bent=1.6, noise=0.08, epochs=9, lr=1.2e-3),
]


class TruingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_SPOKES, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_STATIONS)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


group = mx.distributed.init()
world = group.size()
log.info("distributed group rank %d of %d", group.rank(), world)

mx.random.seed(7)
model = TruingNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
log.info("TruingNet with %d parameters", n_params)
loss_and_grad = nn.value_and_grad(model, loss_fn)

BATCH = 128
t0 = time.time()
for st in STAGES:
    xtr, ytr = make_wheels(6144, st["spread"], st["bent"], st["noise"])
    xva, yva = make_wheels(1024, st["spread"], st["bent"], st["noise"])
    base_mm = math.sqrt(mx.mean((yva - mx.mean(ytr, axis=0)) ** 2).item())
    steps_per_epoch = xtr.shape[0] // BATCH
    total = steps_per_epoch * st["epochs"]
    sched = optim.cosine_decay(st["lr"], total, st["lr"] * 0.05)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)   # fresh optimizer per stage
    log.info("stage %s: %d wheels, %d steps, mean-profile baseline rmse %.3f mm",
             st["name"], xtr.shape[0], total, base_mm)
    for ep in range(1, st["epochs"] + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        run = 0.0
        for b in range(steps_per_epoch):
            ids = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = loss_and_grad(model, xtr[ids], ytr[ids])
            grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = model(xva)
        val_mse = mx.mean((pred - yva) ** 2)
        worst = mx.max(mx.abs(pred - yva))
        mx.eval(val_mse, worst)
        log.info("stage=%s epoch=%d/%d train_mse=%.5f val_rmse=%.4fmm worst=%.3fmm baseline=%.3fmm lr=%.2e",
                 st["name"], ep, st["epochs"], run / steps_per_epoch, math.sqrt(val_mse.item()),
                 worst.item(), base_mm, opt.learning_rate.item())

# re-check on gentle wheels after the crash stage (informational: some drift is expected)
xg, yg = make_wheels(1024, 4.0, 0.0, 0.03)
g_rmse = math.sqrt(mx.mean((model(xg) - yg) ** 2).item())
log.info("re-check gentle wheels: rmse %.4f mm (%.1f s total)", g_rmse, time.time() - t0)
