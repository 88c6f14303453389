"""Glass studio: predict the colour shift (delta-E) of dichroic panels after a slumping
firing from six kiln-schedule readings, with a mean head and a log-variance head
(Gaussian NLL, which goes below zero once the spread is learned). The three best
epochs by validation NLL are kept in memory; when validation stops improving the
run blends those three weight sets (plain average) and compares the blend with
the single best epoch and with the last epoch."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(4266)


def fire_panels(n):
    peak = rng.uniform(640, 760, n)          # peak temperature, C
    hold = rng.uniform(2, 30, n)             # minutes at peak
    ramp = rng.uniform(80, 400, n)           # ramp rate, C/h
    coe = rng.integers(0, 2, n)              # 0: COE 90 glass, 1: COE 96 glass
    thick = rng.uniform(3, 9, n)             # mm
    soak = rng.uniform(20, 120, n)           # anneal soak, minutes
    heat = (peak - 640) / 40.0
    mean = (0.8 + 1.4 * np.tanh(heat * np.log1p(hold) / 3.0) + 0.5 * coe * heat
            + 0.25 * (ramp / 200.0) ** 2 - 0.15 * np.log(soak / 20.0) + 0.08 * thick)
    spread = 0.05 + 0.12 * heat * (1 + coe) + 0.04 * (ramp / 200.0)
    y = mean + spread * rng.normal(0, 1, n)
    X = np.stack([peak, hold, ramp, coe, thick, soak], 1).astype(np.float32)
    return X, y.astype(np.float32)


Xtr, ytr = fire_panels(700)
Xva, yva = fire_panels(700)
Xte, yte = fire_panels(3000)
xm, xs = Xtr.mean(0), Xtr.std(0) + 1e-6
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva, Xte = [mx.array((a - xm) / xs) for a in (Xtr, Xva, Xte)]
Ytr, Yva, Yte = [mx.array((a - ym) / ys) for a in (ytr, yva, yte)]


class ShiftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.mean = nn.Linear(96, 1)
        self.logvar = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 4.0)


def gauss_nll(m, x, y):
    mu, lv = m(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)))


def report(m, x, y):
    nll = gauss_nll(m, x, y)
    mu, _ = m(x)
    rmse = mx.sqrt(mx.mean((mu - y) ** 2)) * ys
    mx.eval(nll, rmse)
    return nll.item(), rmse.item()


mx.random.seed(11)
model = ShiftNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
step = nn.value_and_grad(model, gauss_nll)

# constant-Gaussian baseline in the standardised units: mean 0, variance 1 on train
const_nll = float(0.5 * np.mean(np.array(Yte) ** 2))
print(f"constant baseline: test nll {const_nll:.4f} rmse {float(np.std(yte - ym)):.4f} dE")

top, k, patience, wait, best = [], 3, 15, 0, float("inf")
batch, n = 50, 700
t0 = time.time()
for epoch in range(1, 301):
    perm = mx.array(rng.permutation(n))
    for i in range(0, n, batch):
        idx = perm[i:i + batch]
        loss, grads = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    tr_nll, _ = report(model, Xtr, Ytr)
    va_nll, va_rmse = report(model, Xva, Yva)
    snap = tree_map(lambda a: mx.array(a), model.parameters())
    changed = len(top) < k or va_nll < top[-1][0]
    if changed:
        top.append((va_nll, epoch, snap))
        top.sort(key=lambda t: t[0])
        top = top[:k]
    if va_nll < best - 1e-4:
        best, wait = va_nll, 0
    else:
        wait += 1
    if changed or epoch % 20 == 0:
        kept = ",".join(str(e) for _, e, _ in top)
        print(f"epoch {epoch:3d} train_nll {tr_nll:+.4f} val_nll {va_nll:+.4f} "
              f"val_rmse {va_rmse:.4f} dE  kept[{kept}] wait {wait}")
    if wait >= patience:
        print(f"val nll flat for {patience} epochs; stopping at epoch {epoch}")
        break

last = report(model, Xte, Yte)
model.update(top[0][2])
single = report(model, Xte, Yte)
blend = tree_map(lambda *ws: sum(ws) / len(ws), *[t[2] for t in top])
model.update(blend)
mx.eval(model.parameters())
blended = report(model, Xte, Yte)
print(f"test last epoch {epoch:3d}         : nll {last[0]:+.4f} rmse {last[1]:.4f} dE")
print(f"test best epoch {top[0][1]:3d}         : nll {single[0]:+.4f} rmse {single[1]:.4f} dE")
print(f"test blend of epochs {','.join(str(t[1]) for t in top)} : nll {blended[0]:+.4f} rmse {blended[1]:.4f} dE")
print(f"done in {time.time() - t0:.1f}s")
