"""Fetch-limited wave height surrogate (SMB curves) - trains an MLP on synthetic buoy data."""
import time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

G = 9.81
rng = np.random.default_rng(7)


def smb_height(U, F, d):
    # shallow-water SMB significant wave height (m); U m/s, F m, d m
    a = 0.53 * (G * d / U**2) ** 0.75
    b = 0.0125 * (G * F / U**2) ** 0.42
    return 0.283 * np.tanh(a) * np.tanh(b / np.tanh(a)) * U**2 / G


def make(n):
    U = rng.uniform(5.0, 30.0, n)
    F = np.exp(rng.uniform(np.log(1e3), np.log(5e5), n))
    d = np.exp(rng.uniform(np.log(5.0), np.log(200.0), n))
    H = smb_height(U, F, d) * np.exp(rng.normal(0, 0.05, n))
    X = np.stack([np.log(U), np.log(F), np.log(d)], 1)
    return X.astype(np.float32), np.log(H).astype(np.float32), H


Xtr, ytr, Htr = make(6000)
Xva, yva, Hva = make(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd); ytr_m = mx.array((ytr - ymu) / ysd)
Xva_m = mx.array((Xva - mu) / sd)


class Surrogate(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.inp = nn.Linear(3, h)
        self.hid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)
        self.act = nn.Mish()

    def __call__(self, x):
        z = self.act(self.inp(x))
        z = z + self.act(self.hid(z))
        return self.out(z).squeeze(-1)


mx.random.seed(3)
model = Surrogate()
mx.eval(model.parameters())
BS, EPOCHS = 64, 24
steps_per_epoch = len(Xtr) // BS
total = EPOCHS * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(1e-4, 3e-3, 80), optim.exponential_decay(3e-3, 0.9993)], [80])
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)


def val_report():
    p = model(Xva_m) * ysd + ymu
    Hp = np.exp(np.array(p))
    rmse = float(np.sqrt(np.mean((Hp - Hva) ** 2)))
    rel = np.abs(Hp - Hva) / Hva
    return rmse, float(np.percentile(rel, 90))


t0 = time.time()
print(f"Starting Nmap 7.94 ( https://nmap.org ) at 2026-11-26 07:20 UTC")
# first-step gradient audit
idx0 = np.arange(BS)
l0, g0 = vg(model, Xtr_m[mx.array(idx0)], ytr_m[mx.array(idx0)])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
base = float(np.sqrt(np.mean((np.exp(ytr.mean()) - Hva) ** 2)))
print(f"Nmap scan report for smb-surrogate (127.0.0.1)")
print(f"Host is up (leaves={len(flat)} zero_grad={zero if zero else 'none'} loss0={float(l0):.4f}).")
print(f"Not shown: baseline host (constant-height predictor, val_rmse_m={base:.3f})")
print(f"PORT      STATE SERVICE  VERSION")
step = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    run = 0.0
    for i in range(steps_per_epoch):
        b = mx.array(perm[i * BS:(i + 1) * BS])
        loss, grads = vg(model, Xtr_m[b], ytr_m[b])
        grads, gn = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += float(loss)
        step += 1
    rmse, p90 = val_report()
    port = f"{ep}/tcp"
    print(f"{port:<9} open  epoch    train_mse={run/steps_per_epoch:.4f} val_rmse_m={rmse:.4f} "
          f"p90_rel={p90:.3f} lr={float(opt.learning_rate):.2e}")
print(f"Service Info: noise floor ~5% lognormal; last grad norm {float(gn):.3f}")
for U, F, d in [(10.0, 2e4, 20.0), (20.0, 2e5, 100.0), (25.0, 5e3, 8.0)]:
    x = (np.array([[math.log(U), math.log(F), math.log(d)]], np.float32) - mu) / sd
    hp = math.exp(float(model(mx.array(x))[0]) * ysd + ymu)
    print(f"|_ probe U={U:g}m/s F={F/1e3:g}km d={d:g}m: model {hp:.2f} m  SMB {smb_height(U, F, d):.2f} m")
print(f"Nmap done: 1 IP address (1 host up) scanned in {time.time()-t0:.2f} seconds")
