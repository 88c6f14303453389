"""Depot inspection log: carbon-strip wear of tram pantographs (um per 1000 km) from nine
readings taken at the wheel-lathe stop. 5-fold CV, hand-written Nesterov momentum,
per-fold early stopping that puts the best epoch's weights back before scoring the fold."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("depot")

rng = np.random.default_rng(11)
N = 2400
arc = rng.normal(0.0, 4.0, N)                # arcing time share minus route norm, % points
hum = rng.uniform(25, 85, N)                 # % RH on the route that week
force = rng.normal(0.0, 10.0, N)             # mean contact force minus 90 N target, N
speed = rng.uniform(40.0, 80.0, N)           # mean running speed, km/h
stagger = np.abs(rng.normal(0, 8, N))        # contact wire stagger error, mm
regrind = rng.uniform(0, 12, N)              # months since the wire was reprofiled
spring = rng.normal(1.0, 0.15, N)            # pan-head spring stiffness index
mat = rng.integers(0, 3, N)                  # 0 plain carbon, 1 metallised carbon, 2 copper-impregnated
# made-up wear law (um per 1000 km)
k_arc = np.array([1.6, 0.35, 0.12])[mat]
sz = (speed - 60.0) / 10.0
wear = (30.0 + k_arc * arc
        + 2.1 * force
        + 0.9 * sz ** 2 / 4.0 + 0.6 * sz
        + 0.02 * (hum - 55) * (mat == 1)
        + 0.04 * stagger
        + 0.35 * regrind * (speed < 50.0)
        + 3.0 * (spring - 1.0))
wear = wear + rng.normal(0, 0.8, N)
X = np.stack([arc, hum, force, speed, stagger, regrind, spring, mat == 1, mat == 2], 1).astype(np.float64)

FOLDS, BATCH, MAX_EP, PATIENCE = 5, 64, 80, 6
LR, MOM = 0.05, 0.9
fold_of = rng.permutation(N) % FOLDS


class WearNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(9, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(mx.tanh(self.mid(mx.tanh(self.inp(x))))).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def nesterov(params, grads, vel):
    vel = tree_map(lambda v, g: MOM * v + g, vel, grads)
    params = tree_map(lambda p, v, g: p - LR * (g + MOM * v), params, vel, grads)
    return params, vel


t_start = time.time()
summary = []
for k in range(FOLDS):
    tr, va = np.where(fold_of != k)[0], np.where(fold_of == k)[0]
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-9
    ymu, ysd = wear[tr].mean(), wear[tr].std()
    xtr = mx.array(((X[tr] - mu) / sd).astype(np.float32))
    ytr = mx.array(((wear[tr] - ymu) / ysd).astype(np.float32))
    xva = mx.array(((X[va] - mu) / sd).astype(np.float32))
    yva_sd = wear[va]

    mx.random.seed(100 + k)
    model = WearNet()
    vel = tree_map(mx.zeros_like, model.trainable_parameters())
    mx.eval(model.parameters(), vel)
    step_fn = nn.value_and_grad(model, mse)

    if k == 0:
        _, g = step_fn(model, xtr[:512], ytr[:512])
        norms = [float(mx.linalg.norm(v.reshape(-1))) for _, v in tree_flatten(g)]
        log.info("grad check fold 0: %d arrays, min norm %.3e, max %.3e", len(norms), min(norms), max(norms))

    best, best_ep, best_params, wait = float("inf"), -1, None, 0
    for ep in range(1, MAX_EP + 1):
        perm = rng.permutation(len(tr))
        run = 0.0
        for b in range(0, len(tr) - BATCH + 1, BATCH):
            idx = mx.array(perm[b:b + BATCH])
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            new_p, vel = nesterov(model.trainable_parameters(), grads, vel)
            model.update(new_p)
            mx.eval(model.parameters(), vel, loss)
            run += float(loss)
        nb = len(tr) // BATCH
        pred = np.array(model(xva)) * ysd + ymu
        mae = float(np.mean(np.abs(pred - yva_sd)))
        within = 100.0 * float(np.mean(np.abs(pred - yva_sd) < 2.0))
        if ep == 1 or ep % 5 == 0:
            log.info("fold %d ep %2d  train %.4f  val MAE %.3f um/kkm  inside 2 um %5.1f%%", k, ep, run / nb, mae, within)
        if mae < best - 1e-4:
            best, best_ep, wait = mae, ep, 0
            best_params = dict(tree_flatten(model.parameters()))
        else:
            wait += 1
            if wait >= PATIENCE:
                log.info("fold %d: no gain for %d epochs, stop at ep %d", k, PATIENCE, ep)
                break
    model.load_weights(list(best_params.items()))
    mx.eval(model.parameters())
    pred = np.array(model(xva)) * ysd + ymu
    mae = float(np.mean(np.abs(pred - yva_sd)))
    within = 100.0 * float(np.mean(np.abs(pred - yva_sd) < 2.0))
    base = float(np.mean(np.abs(ymu - yva_sd)))
    log.warning("fold %d restored ep %d: MAE %.3f um/kkm (constant-guess %.3f), inside 2 um %.1f%%", k, best_ep, mae, base, within)
    summary.append((k, best_ep, mae, base, within))

print("\nfold  best_ep   MAE um/kkm   const um/kkm   in+-2um")
for k, e, m, b, w in summary:
    print(f"{k:>4}  {e:>7}   {m:7.3f}   {b:9.3f}   {w:5.1f}%")
arr = np.array([s[2] for s in summary])
print(f"mean  {'':>7}   {arr.mean():7.3f} +- {arr.std():.3f}   ({time.time() - t_start:.1f}s)")
