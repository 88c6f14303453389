"""Chimney sweep's notebook: creosote build-up (mm per heating season).

Made-up law from six readings per flue: wood moisture %, flue-gas temperature
at the thimble (C), burn hours per week, air-wash stove (0/1), flue length (m),
mean outdoor winter temperature (C).  Wet wood and cool flue gas condense tar;
long cold flues are worse; air-wash stoves run cleaner.

4-fold cross-validation; every fold starts a fresh model and its epoch counter
starts again at 1.  Gradients go through mx.distributed (one process here, the
same script runs under mpirun).  The step is compiled.  Early stopping keeps
the best weights of each fold and restores them before the fold's report.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(format="%(asctime)s %(levelname)-5s %(name)s: %(message)s", level=logging.INFO)
log = logging.getLogger("sweep")

world = mx.distributed.init()
rank, size = world.rank(), world.size()

rng = np.random.default_rng(2024 + rank)
N = 4000
moist = rng.uniform(8, 35, N)
gas_t = rng.uniform(90, 320, N)
hours = rng.uniform(5, 80, N)
airwash = (rng.random(N) < 0.45).astype(float)
flue_len = rng.uniform(3, 12, N)
outdoor = rng.uniform(-15, 8, N)
cond = 1.0 / (1.0 + np.exp((gas_t - 150 - 2.0 * outdoor) / 25.0))  # share of tar that condenses
y = (0.04 * hours * (0.3 + cond) * (1 + 0.06 * np.maximum(moist - 18, 0)) * (1 + 0.05 * flue_len)
     * (1 - 0.35 * airwash))
y = y * np.exp(rng.normal(0, 0.08, N))
X = np.stack([moist, gas_t, hours, airwash, flue_len, outdoor], 1)

folds = np.array_split(rng.permutation(N), 4)


def make_model():
    return nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))


def huber(model, xb, yb):
    return nn.losses.huber_loss(model(xb).squeeze(1), yb, delta=0.5, reduction="mean")


t0 = time.time()
fold_mae = []
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    Xtr = mx.array(((X[tr_idx] - mu) / sd).astype(np.float32))
    Xva = mx.array(((X[va_idx] - mu) / sd).astype(np.float32))
    ytr = mx.array(y[tr_idx].astype(np.float32))
    yva = mx.array(y[va_idx].astype(np.float32))
    base_mae = float(np.abs(y[va_idx] - y[tr_idx].mean()).mean())

    mx.random.seed(100 + k)
    model = make_model()
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, huber)
    state = [model.state, opt.state]

    def step(xb, yb):
        loss, grads = loss_and_grad(model, xb, yb)
        grads = tree_map(lambda g: mx.distributed.all_sum(g) / size, grads)
        opt.update(model, grads)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)

    best, best_ep, best_params, bad = float("inf"), 0, None, 0
    n = Xtr.shape[0]
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n, 100):
            idx = perm[i:i + 100]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item() * idx.shape[0]
        pred = model(Xva).squeeze(1)
        mae = mx.abs(pred - yva).mean().item()
        if ep == 1 or ep % 10 == 0:
            log.info("fold %d/4 ep %2d train_huber=%.4f val_mae=%.3f mm (mean-guess %.3f mm)", k + 1, ep, tot / n, mae, base_mae)
        if mae < best - 1e-4:
            best, best_ep, bad = mae, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= 8:
                log.warning("fold %d/4 stopping at ep %d, no gain for 8 epochs", k + 1, ep)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = model(Xva).squeeze(1)
    mae = mx.abs(pred - yva).mean().item()
    r2 = 1 - mx.mean((pred - yva) ** 2).item() / float(np.var(y[va_idx]))
    log.info("fold %d/4 restored ep %d: val_mae=%.3f mm, r2=%.3f", k + 1, best_ep, mae, r2)
    fold_mae.append(mae)

log.info("cv mae %.3f +- %.3f mm over %d folds (world size %d), %.1fs",
         float(np.mean(fold_mae)), float(np.std(fold_mae)), len(fold_mae), size, time.time() - t0)
