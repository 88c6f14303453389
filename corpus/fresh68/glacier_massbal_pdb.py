"""Glacier surface mass balance emulator.

Annual point mass balance (m w.e.) from a synthetic degree-day model:
accumulation = precip share that falls below +1 C, melt = DDF(snow/ice) * PDD,
temperature lapsed to the stake elevation.  Small SiLU MLP learns it.
Report is written as a PDB-format 'structure' (one ATOM record per epoch).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def simulate(n):
    elev = rng.uniform(2400, 3600, n)          # stake elevation (m)
    t_ref = rng.normal(-1.0, 1.2, n)           # annual mean temp at 3000 m
    amp = rng.uniform(8, 12, n)                # seasonal amplitude
    precip = rng.lognormal(np.log(1.6), 0.3, n)  # annual precip (m w.e.)
    albedo = rng.uniform(0.2, 0.6, n)          # late-summer albedo
    days = np.arange(365)
    t = (t_ref[:, None] - 0.0065 * (elev[:, None] - 3000.0)
         - amp[:, None] * np.cos(2 * np.pi * (days[None] - 15) / 365.0))
    solid = (t < 1.0).mean(1)
    acc = precip * solid
    pdd = np.clip(t, 0, None).sum(1)
    ddf = (3.0 + 5.0 * (0.6 - albedo)) / 1000.0  # m w.e. per degree-day
    melt = ddf * pdd
    bal = acc - melt + rng.normal(0, 0.08, n)
    x = np.stack([(elev - 3000) / 350, t_ref / 1.2, (amp - 10) / 1.2,
                  np.log(precip) / 0.3, (albedo - 0.4) / 0.12], 1)
    return x.astype(np.float32), bal.astype(np.float32)


x_tr, y_tr = simulate(7000)
x_va, y_va = simulate(1500)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
Xtr, Ytr = mx.array(x_tr), mx.array((y_tr - y_mu) / y_sd)
Xva, Yva = mx.array(x_va), mx.array(y_va)


class Emulator(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.h1 = nn.Linear(64, 64)
        self.h2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


mx.random.seed(3)
model = Emulator()
mx.eval(model.parameters())
EPOCHS, BS = 20, 100
steps_per_epoch = len(x_tr) // BS
sched = optim.exponential_decay(0.05, 0.9985)
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-5)
vg = nn.value_and_grad(model, loss_fn)

# gradient audit at step 0
l0, g0 = vg(model, Xtr[:BS], Ytr[:BS])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]


def valid():
    p = model(Xva) * y_sd + y_mu
    err = p - Yva
    return math.sqrt(float(mx.mean(err * err))), float(mx.mean(mx.abs(err)))


base_rmse = float(np.sqrt(np.mean((y_va - y_mu) ** 2)))
print("HEADER    GLACIOLOGY / MASS BALANCE EMULATOR      26-NOV-26   GMB1")
print(f"TITLE     DEGREE-DAY SURFACE MASS BALANCE, {len(x_tr)} TRAIN / {len(x_va)} VALID STAKES")
print(f"REMARK   2 GRADCHECK LEAVES {len(leaves):3d} ZERO {len(zero):3d} LOSS0 {float(l0):8.4f}")
print(f"REMARK   3 BASELINE RMSE (PREDICT MEAN) {base_rmse:7.4f} M W.E.")
print("REMARK   4 ATOM: X=TRAIN_HUBER Y=VALID_RMSE Z=VALID_MAE OCC=LR B=SECONDS")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(x_tr)))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss)
    rmse, mae = valid()
    lr = float(opt.learning_rate)
    print(f"ATOM  {ep:5d}  CA  EPO A{ep:4d}    {tot/steps_per_epoch:8.4f}{rmse:8.4f}{mae:8.4f}"
          f"{lr:6.3f}{time.time()-t0:6.1f}           C")
print("TER")
probe = np.array([[-1.5, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1.5, 0, 0, 0, 0]], np.float32)
pred = np.array(model(mx.array(probe))) * y_sd + y_mu
for z, (e, b) in enumerate(zip([2475, 3000, 3525], pred)):
    print(f"HETATM{z+1:5d}  B   STK S{z+1:4d}    ELEV {e:5d} M  PRED BALANCE {b:+7.3f} M W.E.")
print("END")
