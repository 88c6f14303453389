"""Canyoning club notebook: how hot does a figure-8 descender get?

Regress the descender temperature rise (deg C) at the bottom of an abseil from
six readings taken at the top: pitch length, abseiler + kit mass, rope diameter,
rope humidity, braking style and air temperature.

Stage 1 trains on the dry-season log (humid < 35%).  Stage 2 adapts only the
head to the wet-season log (wet ropes cool the metal but grab harder, and the
readings are noisier), with early stopping that restores the best head.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("abseil")

rng = np.random.default_rng(7)


def make_log(n, wet):
    pitch = rng.uniform(10, 60, n)            # m
    mass = rng.uniform(55, 110, n)            # kg incl. kit
    diam = rng.uniform(9.0, 11.5, n)          # mm
    if wet:
        humid = rng.uniform(40, 100, n)       # %
    else:
        humid = rng.uniform(0, 35, n)
    brake = rng.uniform(0, 1, n)              # 0 = smooth, 1 = jerky
    air = rng.uniform(2, 32, n)               # deg C
    energy = 9.81 * mass * pitch / 1000.0     # kJ of potential energy
    cool = 1.0 / (1.0 + 0.012 * humid)        # water carries heat away
    grab = 1.0 + 0.004 * humid * (11.5 - diam)
    rise = 0.9 * energy * cool * grab * (1.0 + 0.35 * brake ** 2) / (1 + 0.02 * (air - 15))
    rise = rise + 0.5 * np.sin(pitch / 9.0)
    noise = 1.0 if wet else 0.4
    rise = rise + rng.normal(0, noise, n)
    X = np.stack([pitch, mass, diam, humid, brake, air], 1)
    return X.astype(np.float32), rise.astype(np.float32)


Xd, yd = make_log(3000, wet=False)
Xw, yw = make_log(1200, wet=True)
mu, sd = Xd.mean(0), Xd.std(0)
ym, ys = yd.mean(), yd.std()


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ym) / ys)


Xd_tr, yd_tr = prep(Xd[:2400], yd[:2400])
Xd_va, yd_va = prep(Xd[2400:], yd[2400:])
Xw_tr, yw_tr = prep(Xw[:800], yw[:800])
Xw_va, yw_va = prep(Xw[800:], yw[800:])


class DescenderNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def rmse_degc(model, x, y):
    return math.sqrt(mse(model, x, y).item()) * float(ys)


def grad_audit(model, x, y, tag):
    _, g = nn.value_and_grad(model, mse)(model, x, y)
    from mlx.utils import tree_flatten
    for k, v in tree_flatten(g):
        log.info("check %s grad-norm %-16s %.3e", tag, k, mx.linalg.norm(v).item())


mx.random.seed(3)
model = DescenderNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, mse)

base_d = float(np.sqrt(np.mean((yd[2400:] - yd[:2400].mean()) ** 2)))
log.info("dry log: %d train / %d val, predict-the-mean rmse %.2f degC", 2400, 600, base_d)

# ---- stage 1: whole network on the dry log, Adagrad with a warmup from exactly 0
warm = optim.linear_schedule(0.0, 0.08, 150)
opt = optim.Adagrad(learning_rate=optim.join_schedules([warm, lambda s: 0.08], [150]))
grad_audit(model, Xd_tr[:256], yd_tr[:256], "stage1")
t0 = time.time()
bs = 64
step = 0
for epoch in range(14):
    perm = mx.array(rng.permutation(2400))
    for i in range(0, 2400, bs):
        idx = perm[i:i + bs]
        loss, g = loss_and_grad(model, Xd_tr[idx], yd_tr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step == 1 or step % 75 == 0:
            log.info("stage=1 step=%4d lr=%.4f batch_mse=%.4f val_rmse=%.2f degC",
                     step, opt.learning_rate.item(), loss.item(), rmse_degc(model, Xd_va, yd_va))
log.info("stage 1 done in %.1fs: dry val rmse %.2f degC (mean baseline %.2f)",
         time.time() - t0, rmse_degc(model, Xd_va, yd_va), base_d)

# ---- stage 2: freeze the trunk on purpose, adapt the head to wet ropes
base_w = float(np.sqrt(np.mean((yw[800:] - yw[:800].mean()) ** 2)))
log.info("wet log: %d train / %d val, predict-the-mean rmse %.2f degC", 800, 400, base_w)
log.info("wet val rmse before adapting: %.2f degC", rmse_degc(model, Xw_va, yw_va))
model.trunk.freeze()
opt2 = optim.SGD(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, 60), lambda s: 0.05], [60]), momentum=0.9)
grad_audit(model, Xw_tr[:256], yw_tr[:256], "stage2")
best, best_step, bad, patience = float("inf"), 0, 0, 6
best_head = None
step = 0
for epoch in range(60):
    perm = mx.array(rng.permutation(800))
    for i in range(0, 800, 32):
        idx = perm[i:i + 32]
        loss, g = loss_and_grad(model, Xw_tr[idx], yw_tr[idx])
        opt2.update(model, g)
        mx.eval(model.parameters(), opt2.state, loss)
        step += 1
    v = rmse_degc(model, Xw_va, yw_va)
    mark = ""
    if v < best - 1e-3:
        best, best_step, bad = v, step, 0
        best_head = {k: mx.array(p) for k, p in model.head.parameters().items()}
        mark = " *"
    else:
        bad += 1
    log.info("stage=2 epoch=%2d step=%4d train_mse=%.4f val_rmse=%.2f degC%s",
             epoch, step, loss.item(), v, mark)
    if bad >= patience:
        log.info("early stop: no val gain for %d epochs", patience)
        break
model.head.update(best_head)
mx.eval(model.parameters())
log.info("restored head from step %d: wet val rmse %.2f degC (mean baseline %.2f), dry val rmse now %.2f degC",
         best_step, rmse_degc(model, Xw_va, yw_va), base_w, rmse_degc(model, Xd_va, yd_va))
