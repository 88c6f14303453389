# Radiosonde archive: estimate the thermal tropopause height (km) of a sounding
# from 8 summary readings, with a robust log-cosh loss (custom VJP, stable
# forward), 4-fold cross-validation, a warmup that starts at lr = 0, and early
# stopping that restores the best weights of each fold.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
N = 3200
lat = rng.uniform(-80, 80, N)
season = rng.uniform(0, 2 * np.pi, N)
t_sfc = 28 - 0.45 * np.abs(lat) + 6 * np.sin(season) * np.sign(lat) + rng.normal(0, 3, N)
t500 = t_sfc - 38 + rng.normal(0, 2.5, N)
lapse = (t_sfc - t500) / 5.5 + rng.normal(0, 0.3, N)
jet = 20 + 25 * np.exp(-((np.abs(lat) - 35) ** 2) / 120) + rng.normal(0, 6, N)
ozone = 260 + 1.6 * np.abs(lat) + rng.normal(0, 20, N)
rh = rng.uniform(10, 95, N)
X = np.stack([lat / 90, np.sin(season), t_sfc, t500, lapse, jet, ozone, rh], 1)
# made-up law: tropical tropopause ~16.5 km, polar ~9 km, break near the jet
h = (9.0 + 7.5 / (1 + np.exp((np.abs(lat) - 32) / 6))
     + 0.06 * (t_sfc - 10) - 0.008 * (ozone - 300) + 0.02 * (jet - 30) * (np.abs(lat) < 45)
     + 0.35 * rng.standard_t(4, N))
X = X.astype(np.float32)
y = h.astype(np.float32)


@mx.custom_function
def logcosh(r):
    a = mx.abs(r)
    return a + mx.logaddexp(mx.zeros_like(a), -2.0 * a) - math.log(2.0)


@logcosh.vjp
def logcosh_vjp(primals, cotangent, output):
    r = primals
    return cotangent * mx.tanh(r)


# audit the hand-written VJP against a central difference once
r0 = mx.array([-3.0, -0.4, 0.0, 0.7, 12.0])
g_custom = mx.grad(lambda r: logcosh(r).sum())(r0)
eps = 1e-3
g_fd = (logcosh(r0 + eps) - logcosh(r0 - eps)) / (2 * eps)
print(f"vjp check: max|custom - finite diff| = {float(mx.abs(g_custom - g_fd).max()):.2e}")


class TropoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def loss_fn(model, xb, yb):
    return logcosh(model(xb) - yb).mean()


K = 4
folds = np.array_split(rng.permutation(N), K)
BS, MAX_EPOCHS, PATIENCE, WARM = 64, 30, 4, 60

print(f"{'fold':>4} {'ep':>3} {'lr':>9} {'train_lc':>9} {'val_rmse_km':>11} {'clim_rmse_km':>12} {'flag':>5}")
results = []
t0 = time.time()
for f in range(K):
    va = folds[f]
    tr = np.concatenate([folds[j] for j in range(K) if j != f])
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    ymu = y[tr].mean()
    Xtr, Xva = mx.array((X[tr] - mu) / sd), mx.array((X[va] - mu) / sd)
    ytr, yva = mx.array(y[tr] - ymu), mx.array(y[va] - ymu)
    clim = float(np.sqrt(np.mean((y[va] - ymu) ** 2)))

    mx.random.seed(100 + f)
    model = TropoNet()
    mx.eval(model.parameters())
    steps_per_epoch = len(tr) // BS
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.02, WARM),
         optim.cosine_decay(0.02, MAX_EPOCHS * steps_per_epoch - WARM, 1e-4)],
        [WARM])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)

    if f == 0:
        _, g0 = vg(model, Xtr[:BS], ytr[:BS])
        nz = sum(int(mx.abs(g).sum().item() > 0) for _, g in tree_flatten(g0))
        print(f"grad audit: {nz}/{len(tree_flatten(g0))} tensors with non-zero gradient")

    best, best_params, bad = float("inf"), None, 0
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        rmse = float(mx.sqrt(mx.mean(mx.square(model(Xva) - yva))))
        flag = ""
        if rmse < best - 1e-4:
            best, bad, flag = rmse, 0, "*"
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
        lr_now = float(opt.learning_rate)
        print(f"{f + 1:>4} {ep:>3} {lr_now:>9.5f} {tot / steps_per_epoch:>9.4f} {rmse:>11.3f} {clim:>12.3f} {flag:>5}")
        if bad >= PATIENCE:
            print(f"     early stop at epoch {ep}; restoring best val_rmse {best:.3f} km")
            break
    model.update(best_params)
    mx.eval(model.parameters())
    final = float(mx.sqrt(mx.mean(mx.square(model(Xva) - yva))))
    results.append((final, clim))

print("-" * 58)
for f, (r, c) in enumerate(results, 1):
    print(f"fold {f}: restored rmse {r:.3f} km | climatology {c:.3f} km | skill {100 * (1 - r / c):.1f}%")
cv = np.mean([r for r, _ in results])
cc = np.mean([c for _, c in results])
print(f"CV rmse {cv:.3f} km vs climatology {cc:.3f} km ({time.time() - t0:.1f}s)")
