# Noon-sight reduction: learn the total altitude correction (arcmin) that turns a
# sextant reading Hs into observed altitude Ho, from the raw sight log.
# 4-fold CV, SGD+Nesterov with warm restarts, best-epoch restore per fold.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1852)
N = 1200
hs = rng.uniform(8.0, 78.0, N)            # sextant altitude, degrees
ie = rng.uniform(-3.0, 3.0, N)            # index error, arcmin (on/off the arc)
hoe = rng.uniform(1.5, 14.0, N)           # height of eye, metres
temp = rng.uniform(-8.0, 34.0, N)         # deg C
pres = rng.uniform(975.0, 1040.0, N)      # hPa
limb = rng.integers(0, 2, N)              # 0 lower limb, 1 upper limb
sd = rng.uniform(15.75, 16.3, N)          # sun semi-diameter, arcmin

dip = 1.76 * np.sqrt(hoe)
ha = hs - (ie + dip) / 60.0
r0 = 1.0 / np.tan(np.radians(ha + 7.31 / (ha + 4.4)))
refr = r0 * (pres / 1010.0) * (283.0 / (273.0 + temp))
par = 0.15 * np.cos(np.radians(ha))
corr = -ie - dip - refr + par + np.where(limb == 0, sd, -sd)
corr = corr + rng.normal(0.0, 0.15, N)    # reading noise of the log

X = np.stack([hs, ie, hoe, temp, pres, limb.astype(float), sd], 1)
X = np.concatenate([X, 1.0 / np.tan(np.radians(hs))[:, None]], 1)
y = corr

folds = np.array_split(rng.permutation(N), 4)


class Reducer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


EPOCHS, CYCLE, BS, PEAK, WARM = 30, 10, 48, 0.05, 12
print(f"{'fold':>4} {'ep':>3} {'lr':>8} {'trn_z2':>8} {'val_rmse':>9} {'const_ref':>9} {'gain%':>6}")
summary = []
for k in range(4):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    mu, sdv = X[tr].mean(0), X[tr].std(0) + 1e-9
    ym, ys = y[tr].mean(), y[tr].std()
    Xtr = mx.array(((X[tr] - mu) / sdv).astype(np.float32))
    ytr = mx.array(((y[tr] - ym) / ys).astype(np.float32))
    Xva = mx.array(((X[va] - mu) / sdv).astype(np.float32))
    yva = y[va]
    const_rmse = float(np.sqrt(np.mean((yva - ym) ** 2)))

    mx.random.seed(100 + k)
    model = Reducer(X.shape[1])
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, mse)
    spe = math.ceil(len(tr) / BS)
    best, best_ep, best_w = float("inf"), -1, None
    gstep = 0
    for ep in range(EPOCHS):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for b in range(spe):
            t_in = (ep % CYCLE) * spe + b
            lr = PEAK * 0.5 * (1 + math.cos(math.pi * t_in / (CYCLE * spe)))
            lr *= min(1.0, gstep / WARM)         # exactly 0 at the first step of a fold
            opt.learning_rate = lr
            idx = perm[b * BS:(b + 1) * BS]
            loss, g = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            gstep += 1
        pred = np.array(model(Xva)) * ys + ym
        rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
        if rmse < best:
            best, best_ep = rmse, ep
            best_w = {kk: mx.array(v) for kk, v in tree_flatten(model.parameters())}
        if ep % 3 == 0 or ep % CYCLE == CYCLE - 1 or ep % CYCLE == 0:
            gain = 100.0 * (1 - rmse / const_rmse)
            print(f"{k:>4} {ep:>3} {lr:8.5f} {tot / spe:8.4f} {rmse:9.3f}' {const_rmse:8.3f}' {gain:6.1f}")
    model.load_weights(list(best_w.items()))
    pred = np.array(model(Xva)) * ys + ym
    rr = float(np.sqrt(np.mean((pred - yva) ** 2)))
    print(f"-- fold {k} restored ep {best_ep}: val {rr:.3f}' (const {const_rmse:.3f}', noise floor 0.150')")
    summary.append(rr)

print("fold | rmse arcmin")
for k, r in enumerate(summary):
    print(f"  {k}  | {r:.3f}")
print(f"cv mean {np.mean(summary):.3f}' +- {np.std(summary):.3f}'")
