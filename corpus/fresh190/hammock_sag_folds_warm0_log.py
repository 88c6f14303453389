"""Hammock rigging: predict the sit-point sag (cm) from rigging measurements.
5-fold cross-validation, each fold a fresh MLP; LR warms up linearly from exactly 0,
then cosine decays; early stopping on the held-out fold restores the best weights."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s hammock | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hammock")

rng = np.random.default_rng(2024)
N = 900
span = rng.uniform(3.0, 5.5, N)          # anchor spacing (m)
length = rng.uniform(2.8, 3.6, N)        # hammock body length (m)
strap_angle = rng.uniform(15, 40, N)     # hang angle (deg)
load = rng.uniform(40, 120, N)           # occupant (kg)
stretch = rng.uniform(0.02, 0.12, N)     # fabric stretch fraction
height = rng.uniform(1.2, 2.0, N)        # strap attachment height (m)
sag = (100 * height - 35 * np.tan(np.radians(strap_angle)) * (span - 0.6 * length)
       - 0.35 * load * (1 + 4 * stretch) + 12 * np.sin(length * 2.2) + rng.normal(0, 2.5, N))
X = np.stack([span, length, strap_angle, load, stretch, height], 1).astype(np.float32)
y = sag.astype(np.float32)

folds = np.array_split(rng.permutation(N), 5)

class SagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)

def mse(model, x, t):
    return nn.losses.mse_loss(model(x), t)

EPOCHS, BS, PEAK, WARM, PATIENCE = 160, 48, 4e-3, 10, 25
summary = []
for k, va_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    xm, xs = X[tr_idx].mean(0), X[tr_idx].std(0)
    ym, ys = y[tr_idx].mean(), y[tr_idx].std()
    Xtr = mx.array((X[tr_idx] - xm) / xs); Ytr = mx.array((y[tr_idx] - ym) / ys)
    Xva = mx.array((X[va_idx] - xm) / xs); Yva_cm = y[va_idx]
    base_mae = float(np.abs(Yva_cm - ym).mean())

    mx.random.seed(100 + k)
    model = SagNet(); mx.eval(model.parameters())
    steps_per_epoch = math.ceil(len(tr_idx) / BS)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM * steps_per_epoch),
         optim.cosine_decay(PEAK, (EPOCHS - WARM) * steps_per_epoch, 1e-5)],
        [WARM * steps_per_epoch])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    vg = nn.value_and_grad(model, mse)

    if k == 0:
        _, g = vg(model, Xtr[:BS], Ytr[:BS])
        dead = [n for n, v in tree_flatten(g) if float(mx.abs(v).max()) == 0]
        log.info("gradient audit: %d tensors, %d with zero gradient", len(tree_flatten(g)), len(dead))

    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    log.info("fold %d/5 start: train %d, held-out %d, mean-predictor MAE %.2f cm", k + 1, len(tr_idx), len(va_idx), base_mae)
    for ep in range(EPOCHS):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for i in range(0, len(tr_idx), BS):
            b = perm[i:i + BS]
            loss, g = vg(model, Xtr[b], Ytr[b])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item() * b.shape[0]
        pred_cm = np.array(model(Xva)) * ys + ym
        mae = float(np.abs(pred_cm - Yva_cm).mean())
        if mae < best - 1e-3:
            best, best_ep, wait = mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        if ep % 40 == 0:
            lr_now = opt.learning_rate.item()
            log.info("fold %d ep %3d lr %.2e train_mse(z) %.4f heldout MAE %.2f cm (best %.2f @ %d)",
                     k + 1, ep, lr_now, tot / len(tr_idx), mae, best, best_ep)
        if wait >= PATIENCE:
            log.info("fold %d early stop at ep %d (no gain for %d epochs)", k + 1, ep, PATIENCE)
            break
    model.update(best_w); mx.eval(model.parameters())
    pred_cm = np.array(model(Xva)) * ys + ym
    mae = float(np.abs(pred_cm - Yva_cm).mean())
    r2 = 1 - float(((pred_cm - Yva_cm) ** 2).sum() / ((Yva_cm - Yva_cm.mean()) ** 2).sum())
    log.info("fold %d restored ep %d: MAE %.2f cm vs mean-pred %.2f cm, R2 %.1f%%", k + 1, best_ep, mae, base_mae, 100 * r2)
    summary.append((mae, base_mae, r2))

s = np.array(summary)
log.info("CV summary: MAE %.2f +- %.2f cm (mean-pred %.2f), R2 %.1f%%", s[:, 0].mean(), s[:, 0].std(), s[:, 1].mean(), 100 * s[:, 2].mean())
