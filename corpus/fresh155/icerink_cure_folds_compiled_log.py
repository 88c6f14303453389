"""Ice-rink operations: how many minutes after a resurfacing flood the sheet is
hard enough to skate on again ("cure time"), from 6 log readings.

5-fold cross-validation, a compiled SGD (Nesterov) step, step-decayed LR, early
stopping on fold RMSE with the best weights restored before the fold is scored.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("rink")

rng = np.random.default_rng(2024)
N = 2000
water_c = rng.uniform(50, 70, N)        # flood water temperature, deg C
litres = rng.uniform(300, 700, N)       # water laid down
brine_c = rng.uniform(-12, -6, N)       # slab brine temperature
air_c = rng.uniform(4, 16, N)           # arena air temperature
rh = rng.uniform(30, 80, N)             # relative humidity, %
crowd = rng.poisson(120, N)             # skaters in the session before
cure = (6.0 + 0.012 * litres * (1 + 0.015 * (water_c - 60))
        + 0.9 * (brine_c + 12) ** 1.3 + 0.35 * np.maximum(air_c - 8, 0) ** 1.5
        + 0.04 * rh + 0.01 * crowd + rng.normal(0, 0.6, N))
X_np = np.stack([water_c, litres, brine_c, air_c, rh, crowd], 1).astype(np.float32)
y_np = cure.astype(np.float32)[:, None]

K, MAX_EPOCHS, PATIENCE, BATCH = 5, 80, 8, 64
folds = np.array_split(rng.permutation(N), K)


def make_model():
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))


summary = []
for f in range(K):
    va_idx = folds[f]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != f])
    mu, sd = X_np[tr_idx].mean(0), X_np[tr_idx].std(0)
    ymu, ysd = y_np[tr_idx].mean(), y_np[tr_idx].std()
    Xtr, ytr = mx.array((X_np[tr_idx] - mu) / sd), mx.array((y_np[tr_idx] - ymu) / ysd)
    Xva, yva = mx.array((X_np[va_idx] - mu) / sd), mx.array(y_np[va_idx])

    model = make_model()
    mx.eval(model.parameters())
    sched = optim.step_decay(0.03, 0.5, 25 * (len(tr_idx) // BATCH))
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(xb, yb):
        return nn.losses.mse_loss(model(xb), yb)

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, grads)
        return loss

    def val_rmse():
        pred = model(Xva) * ysd + ymu
        return mx.sqrt(mx.mean((pred - yva) ** 2)).item()

    guess_rmse = float(np.sqrt(np.mean((y_np[va_idx] - ymu) ** 2)))
    best, best_ep, bad = float("inf"), -1, 0
    best_w = None
    for ep in range(MAX_EPOCHS):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for s in range(0, len(tr_idx) - BATCH + 1, BATCH):
            ib = perm[s:s + BATCH]
            loss = step(Xtr[ib], ytr[ib])
            mx.eval(state, loss)
            tot += loss.item()
        nb = len(tr_idx) // BATCH
        r = val_rmse()
        if r < best - 1e-4:
            best, best_ep, bad = r, ep, 0
            best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
        else:
            bad += 1
        if ep % 5 == 0 or bad == 0 and ep > 40:
            log.info("fold %d/%d ep %02d  trn %.4f  val %.3f min (guess %.2f)  r2 %.1f%%  lr %.4f",
                     f + 1, K, ep, tot / nb, r, guess_rmse, 100 * (1 - (r / guess_rmse) ** 2),
                     opt.learning_rate.item())
        if bad >= PATIENCE:
            log.info("fold %d/%d stop at ep %d, no gain for %d epochs", f + 1, K, ep, PATIENCE)
            break
    model.load_weights(best_w)
    mx.eval(model.parameters())
    r = val_rmse()
    log.warning("fold %d/%d restored ep %d weights -> val %.3f min (best seen %.3f, |diff| %.1e)",
                f + 1, K, best_ep, r, best, abs(r - best))
    summary.append((f + 1, best_ep, r, guess_rmse))

print()
print(" fold | best ep | rmse min | guess min | R2 %")
for f, be, r, g in summary:
    print(f" {f:4d} | {be:7d} | {r:8.3f} | {g:9.3f} | {100 * (1 - (r / g) ** 2):5.1f}")
rs = np.array([s[2] for s in summary])
print(f" mean |         | {rs.mean():8.3f} | {np.mean([s[3] for s in summary]):9.3f} |  (noise floor 0.60)")
