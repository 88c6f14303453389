# Origami club: predict how long (seconds) a member needs to fold a model
# from the crease pattern statistics. 5-fold CV, compiled train step,
# early stopping on the validation fold with restore of the best weights.
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("origami")

rs = np.random.default_rng(2024)
N = 1500
creases = rs.integers(8, 120, N)           # number of creases
mv_ratio = rs.uniform(0.3, 0.7, N)         # mountain / valley share
sinks = rs.poisson(2.0, N)                 # sink folds
paper_cm = rs.choice([15.0, 24.0, 35.0], N)
skill = rs.uniform(0, 1, N)                # member skill
wet = rs.integers(0, 2, N)                 # wet-folding technique
sec = (30 + 4.2 * creases * (1.3 - 0.8 * skill) + 55 * sinks ** 1.3
       + 260 * (mv_ratio - 0.5) ** 2 * creases / 10 + 120 * wet - 1.5 * paper_cm)
sec = sec * np.exp(rs.normal(0, 0.08, N))
X = np.stack([creases / 100, mv_ratio, sinks / 3, paper_cm / 35, skill, wet], 1).astype(np.float32)
y = np.log(sec).astype(np.float32)


class FoldTimer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def mape(model, xb, yb):
    pred_sec = mx.exp(model(xb))
    true_sec = mx.exp(yb)
    return (100 * mx.mean(mx.abs(pred_sec - true_sec) / true_sec)).item()


folds = np.array_split(rs.permutation(N), 5)
summary = []
for k, va_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0) + 1e-6
    Xtr, ytr = mx.array((X[tr_idx] - mu) / sd), mx.array(y[tr_idx])
    Xva, yva = mx.array((X[va_idx] - mu) / sd), mx.array(y[va_idx])
    ymean = ytr.mean()

    mx.random.seed(100 + k)
    model = FoldTimer()
    model.out.bias = ymean.reshape(1)
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-5)
    state = [model.state, opt.state]

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=0.5, reduction="mean")

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    if k == 0:
        _, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:64], ytr[:64])
        nz = sum(int(float(mx.abs(v).sum()) > 0) for _, v in tree_flatten(g))
        log.info("grad audit: %d/%d tensors with non-zero gradient", nz, len(tree_flatten(g)))

    base = (100 * np.mean(np.abs(np.exp(float(ymean.item())) - np.exp(y[va_idx])) / np.exp(y[va_idx])))
    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    for ep in range(1, 151):
        perm = mx.array(rs.permutation(Xtr.shape[0]))
        for i in range(0, Xtr.shape[0], 80):
            idx = perm[i:i + 80]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
        va = mape(model, Xva, yva)
        if va < best - 1e-3:
            best, best_ep, patience = va, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            patience += 1
        if ep % 15 == 0:
            log.info("fold %d epoch %3d  train_huber=%.4f  val_MAPE=%.2f%%  (mean-guess %.1f%%)", k + 1, ep, loss.item(), va, base)
        if patience >= 20:
            log.info("fold %d early stop at epoch %d; best epoch %d", k + 1, ep, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    restored = mape(model, Xva, yva)
    log.info("fold %d restored best weights: val_MAPE=%.2f%% (best seen %.2f%%, diff %.3g)", k + 1, restored, best, abs(restored - best))
    summary.append((k + 1, best_ep, restored, base))

print("\nfold | best_ep | val MAPE % | mean-guess MAPE %")
for f, e, m, b in summary:
    print(f"{f:4d} | {e:7d} | {m:10.2f} | {b:17.2f}")
print(f"mean | {'':7s} | {np.mean([s[2] for s in summary]):10.2f} | {np.mean([s[3] for s in summary]):17.2f}")
