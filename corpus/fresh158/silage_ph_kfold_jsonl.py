"""Silage clamp audit: predict 60-day pH and aerobic spoilage risk from forage
records at ensiling.  5-fold CV, warmup from lr 0, early stopping with restore.
Every event is one JSON line on stdout."""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
N = 3000
# dry matter %, water-soluble carbs g/kg DM, buffering capacity, chop length mm,
# inoculant flag, compaction kg/m3, days to seal, legume share
dm = rng.uniform(22, 45, N)
wsc = rng.gamma(4.0, 18.0, N)
buf = rng.normal(420, 80, N)
chop = rng.uniform(8, 40, N)
inoc = rng.integers(0, 2, N).astype(float)
dens = rng.normal(230, 35, N)
seal = rng.exponential(1.2, N)
legume = rng.beta(1.5, 3.0, N)

ph = (3.85 + 0.018 * (dm - 30) - 0.0045 * (wsc - 70) + 0.0012 * (buf - 420)
      - 0.12 * inoc + 0.35 * legume + 0.09 * seal
      + 0.004 * np.maximum(chop - 25, 0) * (dm > 35)
      + rng.normal(0, 0.06, N))
logit = (-1.0 + 2.2 * (ph - 4.2) - 0.012 * (dens - 230) + 0.5 * seal
         + 0.03 * (chop - 20))
spoil = (rng.uniform(size=N) < 1 / (1 + np.exp(-logit))).astype(np.float32)

X = np.stack([dm, wsc, buf, chop, inoc, dens, seal, legume], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
Y = ph.astype(np.float32)
ph_mu, ph_sd = float(Y.mean()), float(Y.std())
Yz = (Y - ph_mu) / ph_sd


class ClampNet(nn.Module):
    def __init__(self, d_in=8, width=48):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.blk1 = nn.Linear(width, width)
        self.blk2 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.ph_head = nn.Linear(width, 1)
        self.spoil_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + self.blk2(nn.silu(self.blk1(self.norm(h))))
        return self.ph_head(h).squeeze(-1), self.spoil_head(h).squeeze(-1)


def losses(model, x, y, s):
    ph_hat, s_logit = model(x)
    mse = mx.mean((ph_hat - y) ** 2)
    bce = nn.losses.binary_cross_entropy(s_logit, s, reduction="mean")
    return mse, bce


def objective(model, x, y, s):
    mse, bce = losses(model, x, y, s)
    return mse + 0.5 * bce


def emit(**kw):
    print(json.dumps(kw), flush=True)


folds = np.array_split(rng.permutation(N), 5)
BATCH, MAX_EPOCHS, PATIENCE = 96, 40, 5
t0 = time.time()
fold_scores = []
for k in range(5):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(5) if j != k])
    xtr, ytr, str_ = mx.array(X[tr_idx]), mx.array(Yz[tr_idx]), mx.array(spoil[tr_idx])
    xva, yva, sva = mx.array(X[va_idx]), mx.array(Yz[va_idx]), mx.array(spoil[va_idx])

    mx.random.seed(100 + k)
    model = ClampNet()
    steps_per_epoch = len(tr_idx) // BATCH
    warm = optim.linear_schedule(0.0, 3e-3, 2 * steps_per_epoch)
    decay = optim.cosine_decay(3e-3, (MAX_EPOCHS - 2) * steps_per_epoch, 1e-4)
    sched = optim.join_schedules([warm, decay], [2 * steps_per_epoch])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, objective)

    # one-off audit: every trainable tensor must receive gradient
    _, g0 = step_fn(model, xtr[:BATCH], ytr[:BATCH], str_[:BATCH])
    dead = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
    emit(event="grad_audit", fold=k, tensors=len(tree_flatten(g0)), zero_grad=dead)

    # baseline: always predict train mean pH and train spoil rate
    base_rmse = float(np.sqrt(np.mean((Y[va_idx] - Y[tr_idx].mean()) ** 2)))
    best, best_state, bad = float("inf"), None, 0
    for epoch in range(MAX_EPOCHS):
        perm = mx.array(rng.permutation(len(tr_idx)))
        run = 0.0
        for b in range(steps_per_epoch):
            ib = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, xtr[ib], ytr[ib], str_[ib])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        mse, bce = losses(model, xva, yva, sva)
        ph_hat, s_logit = model(xva)
        acc = mx.mean((s_logit > 0) == (sva > 0.5))
        mx.eval(mse, bce, acc)
        rmse_ph = float(np.sqrt(mse.item())) * ph_sd
        score = mse.item() + 0.5 * bce.item()
        emit(fold=k, epoch=epoch, lr=round(float(opt.learning_rate), 6),
             train_obj=round(run / steps_per_epoch, 4), val_obj=round(score, 4),
             ph_rmse=round(rmse_ph, 4), ph_rmse_baseline=round(base_rmse, 4),
             spoil_bce=round(bce.item(), 4), spoil_acc_pct=round(100 * acc.item(), 1))
        if score < best - 1e-4:
            best, bad = score, 0
            best_state = tree_map(lambda a: a, model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                emit(event="early_stop", fold=k, epoch=epoch, best_val_obj=round(best, 4))
                break
    model.update(best_state)
    mse, bce = losses(model, xva, yva, sva)
    mx.eval(mse, bce)
    restored = mse.item() + 0.5 * bce.item()
    emit(event="restored", fold=k, val_obj=round(restored, 4),
         diff_vs_best=round(restored - best, 6))
    fold_scores.append(float(np.sqrt(mse.item())) * ph_sd)

emit(event="summary", cv_ph_rmse_mean=round(float(np.mean(fold_scores)), 4),
     cv_ph_rmse_sd=round(float(np.std(fold_scores)), 4),
     seconds=round(time.time() - t0, 1))
