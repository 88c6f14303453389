#!/usr/bin/env python
# windsurf GPS logs -> top 10-second board speed (knots)
# 4-fold CV, compiled SGD/Nesterov step, early stopping with weight restore,
# tqdm-ish progress lines, RMSE in knots next to the "predict the mean" baseline.
import sys
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

r = np.random.default_rng(7)
N = 2400
wind = r.uniform(8, 32, N)            # knots
gust = r.uniform(1.0, 1.6, N)         # gust factor
sail = r.uniform(4.0, 8.5, N)         # m^2
fin = r.uniform(24, 46, N)            # cm
mass = r.uniform(55, 100, N)          # kg
chop = r.uniform(0, 1.2, N)           # m
angle = r.uniform(90, 150, N)         # deg off the wind
# made-up planing law: power ~ wind^2 * sail / mass, capped by chop and overpowering
power = (wind ** 2) * sail / mass
speed = 4.0 + 6.5 * np.log1p(power / 12.0) - 4.0 * chop * (wind > 20) \
    - 0.02 * (fin - 0.9 * sail * 4.5) ** 2 / 10 + 3.0 * np.sin(np.radians(angle)) \
    - 1.5 * np.maximum(0, power / 60 - 1.0) * gust + r.normal(0, 0.8, N)
X = np.stack([wind, gust, sail, fin, mass, chop, np.sin(np.radians(angle)), np.cos(np.radians(angle))], 1)
X = X.astype(np.float32)
y = speed.astype(np.float32)[:, None]

K = 4
folds = np.array_split(r.permutation(N), K)


def bar(i, n, width=20):
    k = int(width * i / n)
    return "[" + "#" * k + "." * (width - k) + "]"


summary = []
for f in range(K):
    va = folds[f]
    tr = np.concatenate([folds[j] for j in range(K) if j != f])
    mu, sd = X[tr].mean(0), X[tr].std(0)
    ymu, ysd = y[tr].mean(), y[tr].std()
    Xtr = mx.array((X[tr] - mu) / sd); Ytr = mx.array((y[tr] - ymu) / ysd)
    Xva = mx.array((X[va] - mu) / sd); yva = y[va]
    base = float(np.sqrt(np.mean((yva - ymu) ** 2)))

    mx.random.seed(100 + f)
    net = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1))
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(net.parameters())

    def mse(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(net, mse)
    state = [net.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        l, g = vg(net, xb, yb)
        opt.update(net, g)
        return l

    if f == 0:
        _, g = vg(net, Xtr[:64], Ytr[:64])
        norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
        print("grad check:", ", ".join(f"{k}={v:.2e}" for k, v in norms.items()))
        assert all(v > 0 for v in norms.values())

    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    EPOCHS, BS = 60, 64
    nb = Xtr.shape[0] // BS
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(r.permutation(Xtr.shape[0]))
        tot = 0.0
        for b in range(nb):
            ids = perm[b * BS:(b + 1) * BS]
            l = step(Xtr[ids], Ytr[ids])
            mx.eval(state, l)
            tot += l.item()
        pred = np.array(net(Xva)) * ysd + ymu
        rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
        if rmse < best - 1e-3:
            best, best_ep, patience = rmse, ep, 0
            best_w = tree_map(lambda a: mx.array(a), net.parameters())
            mx.eval(best_w)
        else:
            patience += 1
        if ep % 5 == 0 or patience == 8:
            sys.stdout.write(f"fold {f+1}/{K} {bar(ep, EPOCHS)} {ep:2d}/{EPOCHS} "
                             f"train_mse(z)={tot/nb:.4f} val_rmse={rmse:.3f}kn base={base:.3f}kn "
                             f"best={best:.3f}@{best_ep}\n")
        if patience == 8:
            print(f"  early stop at epoch {ep}, restoring epoch {best_ep}")
            break
    net.update(best_w)
    mx.eval(net.parameters())
    pred = np.array(net(Xva)) * ysd + ymu
    rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
    summary.append((f + 1, best_ep, rmse, base))

print()
print("| fold | best epoch | val RMSE (kn) | mean-baseline (kn) | skill |")
print("|------|-----------:|--------------:|-------------------:|------:|")
for fo, be, rm, ba in summary:
    print(f"| {fo:4d} | {be:10d} | {rm:13.3f} | {ba:18.3f} | {1 - rm / ba:5.1%} |")
m = np.mean([s[2] for s in summary])
print(f"mean CV RMSE {m:.3f} kn vs {np.mean([s[3] for s in summary]):.3f} kn baseline")
