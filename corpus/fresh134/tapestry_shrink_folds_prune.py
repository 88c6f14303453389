"""Tapestry workshop: predict how much a woven panel shrinks in wet finishing (% of
loom length) from six loom-log readings.

4-fold cross-validation (fresh net + optimiser per fold, warm-up that starts from a
learning rate of exactly 0), then a refit on everything, then 60 % global magnitude
pruning of the hidden weights followed by masked fine-tuning.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("loom")

rng = np.random.default_rng(11)
N = 1600
sett = rng.uniform(4, 10, N)          # warp ends / cm
picks = rng.uniform(6, 16, N)         # weft picks / cm
beat = rng.uniform(5, 25, N)          # beater force, N
wool = rng.uniform(0, 1, N)           # wool fraction of weft
humid = rng.uniform(30, 80, N)        # workshop RH %
tension = rng.uniform(80, 220, N)     # warp tension, cN
shrink = (1.5 + 0.35 * picks / sett + 2.2 * wool ** 2 + 0.04 * beat * wool
          + 0.012 * (humid - 55) - 0.004 * (tension - 150) + 0.6 * np.sin(sett)
          + rng.normal(0, 0.25, N))
X_np = np.stack([sett, picks, beat, wool, humid, tension], 1).astype(np.float32)
y_np = shrink.astype(np.float32)

EPOCHS, BATCH, WARM = 14, 64, 40


def make_net():
    return nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(),
                         nn.Linear(48, 1))


def loss_fn(model, x, y):
    return (model(x).squeeze(-1) - y).square().mean()


def batches(n, bs, seed):
    perm = np.random.default_rng(seed).permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield perm[i:i + bs]


def rmse(model, x, y):
    return math.sqrt(loss_fn(model, x, y).item())


def train_run(tag, Xtr, ytr, Xva, yva, epochs, seed):
    mu, sd = Xtr.mean(0), Xtr.std(0)
    xt, xv = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    yt, yv = mx.array(ytr), mx.array(yva)
    mx.random.seed(seed)
    net = make_net()
    mx.eval(net.parameters())
    steps = epochs * (len(Xtr) // BATCH)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.03, WARM), optim.cosine_decay(0.03, steps - WARM, 0.003)],
        [WARM])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(net, loss_fn)
    base = math.sqrt(float(((yva - ytr.mean()) ** 2).mean()))
    step = 0
    for ep in range(epochs):
        tot = 0.0
        for bi, idx in enumerate(batches(len(Xtr), BATCH, seed * 100 + ep)):
            loss, g = vg(net, xt[mx.array(idx)], yt[mx.array(idx)])
            opt.update(net, g)
            lr_now = opt.learning_rate.item()   # rate this update used
            mx.eval(net.parameters(), opt.state, loss)
            if step < 2:
                log.info("%s step %d lr=%.5f batch_mse=%.4f", tag, step, lr_now, loss.item())
            tot += loss.item()
            step += 1
        if ep % 3 == 2 or ep == epochs - 1:
            va = rmse(net, xv, yv) if len(Xva) else float("nan")
            log.info("%s ep %02d/%d lr=%.4f train_mse=%.4f val_rmse=%.3f%% (mean-guess %.3f%%)",
                     tag, ep + 1, epochs, opt.learning_rate.item(), tot / (bi + 1), va, base)
    return net, (mu, sd), xt, yt, xv, yv, base


# ---------------- 4-fold CV ----------------
folds = np.array_split(np.random.default_rng(5).permutation(N), 4)
rows = []
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    net, _, _, _, xv, yv, base = train_run(f"fold {k + 1}/4", X_np[tr_idx], y_np[tr_idx],
                                           X_np[va_idx], y_np[va_idx], EPOCHS, seed=k + 1)
    pred = np.array(net(xv).squeeze(-1))
    r2 = 1 - ((pred - y_np[va_idx]) ** 2).sum() / ((y_np[va_idx] - y_np[va_idx].mean()) ** 2).sum()
    rows.append((k + 1, rmse(net, xv, yv), base, r2))

print("\n fold | val RMSE (%) | mean-guess RMSE (%) |   R2")
print("------+--------------+---------------------+-------")
for k, r, b, r2 in rows:
    print(f"  {k}   |    {r:6.3f}    |        {b:6.3f}       | {r2:.3f}")
cv = np.mean([r[1] for r in rows])
print(f" mean |    {cv:6.3f}    |        {np.mean([r[2] for r in rows]):6.3f}       | "
      f"{np.mean([r[3] for r in rows]):.3f}\n")

# ---------------- refit on all panels, keep 15 % as a check set ----------------
perm = np.random.default_rng(9).permutation(N)
chk, fit = perm[:240], perm[240:]
net, (mu, sd), xt, yt, xv, yv, base = train_run("refit", X_np[fit], y_np[fit],
                                                X_np[chk], y_np[chk], EPOCHS, seed=21)
dense_rmse = rmse(net, xv, yv)

# ---------------- global magnitude pruning of hidden weights ----------------
hidden = [net.layers[0], net.layers[2]]
allw = np.concatenate([np.abs(np.array(l.weight)).ravel() for l in hidden])
thr = np.quantile(allw, 0.60)
masks = [mx.array((np.abs(np.array(l.weight)) > thr).astype(np.float32)) for l in hidden]
for l, m in zip(hidden, masks):
    l.weight = l.weight * m
mx.eval(net.parameters())
kept = sum(m.sum().item() for m in masks) / sum(m.size for m in masks)
pruned_rmse = rmse(net, xv, yv)
log.info("pruned 60%% of hidden weights (|w| <= %.4f): kept %.1f%%, check rmse %.3f%% -> %.3f%%",
         thr, 100 * kept, dense_rmse, pruned_rmse)

opt = optim.SGD(learning_rate=0.004, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(net, loss_fn)
for ep in range(6):
    tot, nb = 0.0, 0
    for idx in batches(len(fit), BATCH, 700 + ep):
        loss, g = vg(net, xt[mx.array(idx)], yt[mx.array(idx)])
        opt.update(net, g)
        for l, m in zip(hidden, masks):     # keep pruned connections at zero
            l.weight = l.weight * m
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    log.info("prune-ft ep %d/6 train_mse=%.4f check_rmse=%.3f%%", ep + 1, tot / nb, rmse(net, xv, yv))

zero_frac = sum((l.weight == 0).sum().item() for l in hidden) / sum(l.weight.size for l in hidden)
nparams = sum(v.size for _, v in tree_flatten(net.parameters()))
print(f"summary: cv_rmse={cv:.3f}%  dense={dense_rmse:.3f}%  pruned0={pruned_rmse:.3f}%  "
      f"pruned_ft={rmse(net, xv, yv):.3f}%  mean_guess={base:.3f}%  "
      f"hidden_zero={100 * zero_frac:.1f}%  params={nparams}")
