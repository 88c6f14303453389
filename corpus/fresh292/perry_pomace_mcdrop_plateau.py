"""Perry mill: predict juice yield (litres per 100 kg of pears) from the press sheet.

Seven readings per pressing (fruit ripeness, pulp fineness, press pressure,
press minutes, pomace temperature, rice-hull share, cloth mesh).  Yield
follows a made-up mill law plus noise whose spread grows with ripeness.

During the run the mill manager wants error bars, so the held-out check
reports both the plain eval-mode prediction and a Monte Carlo dropout
average (dropout kept ON for 24 stochastic passes, no gradients), with
the share of held-out pressings that fall inside the MC 90% band.
The learning rate is halved by hand when the held-out error stalls.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)


def pressings(n):
    ripe = rng.uniform(0, 1, n)
    fine = rng.uniform(0, 1, n)
    press = rng.uniform(2, 9, n)
    minutes = rng.uniform(10, 60, n)
    temp = rng.uniform(4, 22, n)
    hulls = rng.uniform(0, 0.08, n)
    mesh = rng.integers(0, 3, n).astype(np.float64)
    y = (52 + 14 * ripe - 9 * (ripe - 0.6) ** 2 * 10 + 8 * fine
         + 11 * np.log1p(press) * (1 - np.exp(-minutes / 25))
         + 0.25 * temp - 60 * hulls ** 0.5 * (1 - fine) - 1.5 * mesh)
    y = y + rng.normal(0, 1.0 + 2.5 * ripe, n)
    X = np.stack([ripe, fine, press, minutes, temp, hulls, mesh], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = pressings(6000)
Xva, yva = pressings(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_s, Xva_s = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_s = (ytr - ymu) / ysd


class MillNet(nn.Module):
    def __init__(self, p=0.15):
        super().__init__()
        self.l1 = nn.Linear(7, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        h = self.drop(nn.silu(self.l1(x)))
        h = self.drop(nn.silu(self.l2(h)))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def held_out(model):
    xv = mx.array(Xva_s)
    model.eval()
    det = np.array(model(xv)) * ysd + ymu
    model.train()                       # dropout stays on for the MC passes
    draws = np.stack([np.array(mx.stop_gradient(model(xv))) for _ in range(24)]) * ysd + ymu
    mc_mean = draws.mean(0)
    lo, hi = np.percentile(draws, 5, axis=0), np.percentile(draws, 95, axis=0)
    rmse_det = float(np.sqrt(np.mean((det - yva) ** 2)))
    rmse_mc = float(np.sqrt(np.mean((mc_mean - yva) ** 2)))
    cover = 100.0 * float(np.mean((yva >= lo) & (yva <= hi)))
    width = float(np.mean(hi - lo))
    return rmse_det, rmse_mc, cover, width


base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
noise_rmse = float(np.sqrt(np.mean((1.0 + 2.5 * Xva[:, 0]) ** 2)))

mx.random.seed(5)
model = MillNet()
lr = 0.05
opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, mse)

print("PERRY MILL YIELD MODEL")
print(f"  pressings  train={len(ytr)}  held-out={len(yva)}  yield mean={ymu:.1f} L/100kg sd={ysd:.1f}")
print(f"  reference  predict-mean RMSE={base_rmse:.2f}  noise-only RMSE={noise_rmse:.2f} (L/100kg)")
d, m, c, w = held_out(model)
print(f"  untrained  eval RMSE={d:.2f}  MC RMSE={m:.2f}  MC90 cover={c:.1f}%  band={w:.2f}")
print()
hdr = f"{'epoch':>5} {'lr':>9} {'train_mse(std)':>15} {'eval_rmse':>10} {'mc_rmse':>8} {'mc90_cover':>11} {'band_L':>7} {'sec':>5}"
print(hdr)
print("-" * len(hdr))

best, stall, t0 = math.inf, 0, time.time()
for epoch in range(1, 19):
    perm = rng.permutation(len(ytr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - 63, 64):
        idx = mx.array(perm[i:i + 64])
        loss, grads = step_fn(model, mx.array(Xtr_s)[idx], mx.array(ytr_s)[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    d, m, c, w = held_out(model)
    if epoch % 3 == 0 or epoch <= 2:
        print(f"{epoch:>5} {lr:>9.2e} {tot / nb:>15.4f} {d:>10.2f} {m:>8.2f} {c:>10.1f}% {w:>7.2f} {time.time() - t0:>5.1f}")
    if d < best - 0.01:
        best, stall = d, 0
    else:
        stall += 1
        if stall >= 3:
            lr *= 0.5
            opt.learning_rate = lr
            stall = 0
            print(f"      (held-out RMSE flat for 3 epochs -> lr halved to {lr:.2e} after epoch {epoch})")

print("-" * len(hdr))
print(f"  final      eval RMSE={d:.2f}  MC RMSE={m:.2f}  MC90 cover={c:.1f}%  best eval RMSE={best:.2f}  "
      f"(predict-mean {base_rmse:.2f}, noise-only {noise_rmse:.2f})")
