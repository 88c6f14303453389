# Kite line-tension regression: learn the pull (N) on a power kite's flying lines
# from wind and rig readings. Trained in two stages: steady sea-breeze days first,
# then gusty squall days (harder, so the loss jumps when stage 2 starts).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

RHO = 1.225


def make_days(n, gusty):
    wind = rng.uniform(4.0, 14.0, n)                  # m/s mean wind
    gust = rng.uniform(1.0, 1.08, n) if not gusty else rng.uniform(1.05, 1.6, n)
    aoa = rng.uniform(4.0, 18.0, n)                   # deg angle of attack
    area = rng.choice([7.0, 9.0, 12.0, 15.0], n)      # m^2 kite size
    line = rng.uniform(18.0, 30.0, n)                 # m line length
    bridle = rng.uniform(-1.0, 1.0, n)                # trim setting
    cl = 0.09 * aoa * (1.0 - 0.02 * np.maximum(aoa - 14.0, 0.0) ** 2) + 0.08 * bridle
    v_eff = wind * (1.0 + 0.55 * (gust - 1.0) + 0.012 * (line - 24.0))
    tension = 0.5 * RHO * v_eff ** 2 * area * np.maximum(cl, 0.05)
    tension *= 1.0 + 0.35 * np.sin(3.0 * (gust - 1.0)) * (aoa > 10)
    tension += rng.normal(0.0, 12.0 + 40.0 * (gust - 1.0), n)
    x = np.stack([wind, gust, aoa, area, line, bridle], 1)
    naive = 0.5 * RHO * wind ** 2 * area * 0.09 * aoa   # textbook estimate
    return x.astype(np.float32), tension.astype(np.float32), naive.astype(np.float32)


steady = [make_days(n, False) for n in (1500, 400)]
squall = [make_days(n, True) for n in (1500, 400)]
allx = np.concatenate([steady[0][0], squall[0][0]])
mu, sd = allx.mean(0), allx.std(0)
T_SCALE = 100.0  # newtons per model unit


def prep(d):
    x, t, nv = d
    return mx.array((x - mu) / sd), mx.array(t / T_SCALE), nv, t


class TensionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


model = TensionNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def val_report(xv, tv_newton, naive):
    pred = np.array(model(xv)) * T_SCALE
    rmse = float(np.sqrt(np.mean((pred - tv_newton) ** 2)))
    within = float(np.mean(np.abs(pred - tv_newton) <= 0.10 * np.abs(tv_newton)) * 100.0)
    base = float(np.sqrt(np.mean((naive - tv_newton) ** 2)))
    return rmse, within, base


print(f"{'stage':<8}{'step':>5}{'lr':>10}{'huber':>9}{'val_rmse[N]':>13}{'<=10%':>8}{'textbook[N]':>13}")
print("-" * 66)
t0 = time.time()
for stage, (tr, va), steps, peak in (("steady", steady, 240, 1.0), ("squall", squall, 300, 0.6)):
    xtr, ytr, _, _ = prep(tr)
    xva, _, nva, tva = prep(va)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 40), optim.cosine_decay(peak, steps - 40, 0.05)], [40]
    )
    opt = optim.AdaDelta(learning_rate=sched, rho=0.95, eps=1e-6)
    n = xtr.shape[0]
    for step in range(steps + 1):
        idx = mx.array(rng.integers(0, n, 128))
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0:
            rmse, within, base = val_report(xva, tva, nva)
            lr_now = float(sched(mx.array(step)))
            print(f"{stage:<8}{step:>5}{lr_now:>10.4f}{loss.item():>9.4f}{rmse:>13.1f}{within:>7.1f}%{base:>13.1f}")
    print("-" * 66)

rmse_s, within_s, base_s = val_report(*[prep(steady[1])[i] for i in (0,)], steady[1][1], steady[1][2])
rmse_q, within_q, base_q = val_report(prep(squall[1])[0], squall[1][1], squall[1][2])
print(f"final steady-day val: rmse {rmse_s:.1f} N (textbook {base_s:.1f} N), within 10%: {within_s:.1f}%")
print(f"final squall-day val: rmse {rmse_q:.1f} N (textbook {base_q:.1f} N), within 10%: {within_q:.1f}%")
print(f"wall {time.time() - t0:.1f}s")
