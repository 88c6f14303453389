"""Didgeridoo workshop: predict the drone pitch (Hz) of a finished instrument
from bore measurements, 5-fold cross-validation, compiled SGD step, early stop."""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
log = logging.getLogger("drone-cv")

rng = np.random.default_rng(11)
N = 3000
length = rng.uniform(1.10, 1.75, N)          # m
mouth = rng.uniform(28, 36, N)               # mm
bell = rng.uniform(50, 115, N)               # mm
wall = rng.uniform(3, 12, N)                 # mm
rough = rng.uniform(0, 1, N)                 # termite chamber roughness index
humid = rng.uniform(30, 95, N)               # % RH
temp = rng.uniform(12, 36, N)                # deg C
c_sound = 331.3 + 0.606 * temp
flare = bell / mouth
l_eff = length + 0.0006 * bell + 0.04 * np.log(flare)
drone = c_sound / (4.0 * l_eff) * (1 + 0.05 * (flare - 2.5) - 0.03 * rough) + 0.004 * humid
drone = drone + rng.normal(0, 0.8, N)        # Hz, measurement noise
X = np.stack([length, mouth, bell, wall, rough, humid, temp], 1).astype(np.float32)
y = drone.astype(np.float32)
log.info("instruments=%d drone Hz: min %.1f mean %.1f max %.1f", N, y.min(), y.mean(), y.max())


class DroneNet(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a = nn.Linear(d, 48)
        self.b = nn.Linear(48, 48)
        self.c = nn.Linear(48, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x))))).squeeze(-1)


def mse(model, xb, yb):
    return ((model(xb) - yb) ** 2).mean()


K, MAX_EPOCHS, PATIENCE, B, WARM = 5, 80, 10, 64, 40
folds = np.array_split(rng.permutation(N), K)
rows = []
t0 = time.perf_counter()
for k in range(K):
    te = folds[k]
    va = folds[(k + 1) % K]
    tr = np.concatenate([folds[j] for j in range(K) if j not in (k, (k + 1) % K)])
    mu, sd = X[tr].mean(0), X[tr].std(0)
    ym, ys = y[tr].mean(), y[tr].std()
    f = lambda idx: mx.array((X[idx] - mu) / sd)
    g = lambda idx: mx.array((y[idx] - ym) / ys)
    Xtr, Ytr, Xva, Yva, Xte, Yte = f(tr), g(tr), f(va), g(va), f(te), g(te)

    mx.random.seed(100 + k)
    model = DroneNet(X.shape[1])
    steps_per_epoch = len(tr) // B
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, WARM),
         optim.cosine_decay(0.05, MAX_EPOCHS * steps_per_epoch, 0.002)], [WARM])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, mse)

    if k == 0:
        _, g0 = vg(model, Xtr[:B], Ytr[:B])
        zero = [n for n, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad check: %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, wait = float("inf"), 0, None, 0
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * B:(i + 1) * B]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
        v = mse(model, Xva, Yva).item()
        if ep in (1, 2, 5) or ep % 20 == 0:
            log.debug("fold %d epoch %d train %.4f val %.4f", k, ep, tot / steps_per_epoch, v)
        if v < best - 1e-4:
            best, best_ep, wait = v, ep, 0
            best_w = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
            if wait >= PATIENCE:
                break
        if ep == 1:
            log.info("fold %d/%d  epoch 1  train_mse %.4f  val_mse %.4f  (lr now %.4f)", k + 1, K, tot / steps_per_epoch, v, opt.learning_rate.item())
    last_ep = ep
    model.update(best_w)
    rmse_hz = float(np.sqrt(mse(model, Xte, Yte).item())) * ys
    base_hz = float(np.sqrt(((y[te] - ym) ** 2).mean()))
    log.info("fold %d/%d  stopped at epoch %d, restored epoch %d (val_mse %.4f)", k + 1, K, last_ep, best_ep, best)
    rows.append((k + 1, last_ep, best_ep, best, rmse_hz, base_hz))

print("\n fold | epochs | best@ | val mse (z) | test RMSE Hz | mean-pitch baseline Hz | skill %")
print("------+--------+-------+-------------+--------------+------------------------+--------")
for r in rows:
    print(f"  {r[0]:3d} | {r[1]:6d} | {r[2]:5d} | {r[3]:11.4f} | {r[4]:12.2f} | {r[5]:22.2f} | {100*(1-r[4]/r[5]):6.1f}")
arr = np.array([[r[4], r[5]] for r in rows])
print(f" mean |        |       |             | {arr[:,0].mean():12.2f} | {arr[:,1].mean():22.2f} | {100*(1-arr[:,0].mean()/arr[:,1].mean()):6.1f}")
print(f"({time.perf_counter()-t0:.1f} s, noise floor 0.80 Hz)")
