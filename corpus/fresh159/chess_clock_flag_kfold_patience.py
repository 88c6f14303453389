"""Blitz chess: will the side to move lose on time (flag)?

Features come from a synthetic clock log (seconds left, increment, move
number, recent seconds/move, opponent's clock, rating gap, material balance).
4-fold cross validation; each fold trains a fresh model with Adagrad and
stops early on the held-out fold's log-loss, rolling back to its best epoch.
"""
import json
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("flagcv")

N, K, BATCH, MAX_EPOCHS, PATIENCE = 2400, 4, 64, 80, 6


def clock_positions(n, seed):
    mx.random.seed(seed)
    secs = mx.random.uniform(1.0, 180.0, (n,))
    inc = mx.random.randint(0, 3, (n,)).astype(mx.float32)  # 0, 1, 2 s
    move_no = mx.random.uniform(10.0, 90.0, (n,))
    pace = mx.random.uniform(0.5, 9.0, (n,))                # recent s / move
    opp_secs = mx.random.uniform(1.0, 180.0, (n,))
    elo_gap = mx.random.normal((n,)) * 150.0
    material = mx.random.normal((n,)) * 2.5
    moves_left = mx.maximum(60.0 - 0.5 * move_no, 8.0) + mx.abs(material) * 2.0
    budget = secs + inc * moves_left - pace * moves_left
    z = (-budget / 25.0 - 0.6 * inc + 0.004 * (opp_secs - secs)
         - 0.002 * elo_gap + 0.4)
    flagged = mx.random.bernoulli(mx.sigmoid(z))
    x = mx.stack([
        mx.log(secs) - 3.8, inc - 1.0, (move_no - 50.0) / 23.0,
        (pace - 4.75) / 2.45, mx.log(opp_secs) - 3.8, elo_gap / 150.0,
        material / 2.5, (secs - opp_secs) / 70.0,
    ], axis=1)
    return x, flagged.astype(mx.float32)


class FlagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 16), nn.GELU())
        self.head = nn.Linear(16, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def auc(scores, labels):
    s, l = scores.tolist(), labels.tolist()
    order = sorted(range(len(s)), key=lambda i: s[i])
    rank_sum, npos = 0.0, 0
    for r, i in enumerate(order, start=1):
        if l[i] > 0.5:
            rank_sum += r
            npos += 1
    nneg = len(s) - npos
    return (rank_sum - npos * (npos + 1) / 2) / max(npos * nneg, 1)


X, Y = clock_positions(N, seed=73)
mx.eval(X, Y)
perm = mx.random.permutation(N)
folds = [perm[i::K] for i in range(K)]
base_rate = Y.mean().item()
log.info("positions=%d flag-rate=%.1f%% folds=%d", N, 100 * base_rate, K)

summary = []
for f in range(K):
    va_idx = folds[f]
    tr_idx = mx.concatenate([folds[j] for j in range(K) if j != f])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    prior_ll = -(base_rate * math.log(base_rate) + (1 - base_rate) * math.log(1 - base_rate))

    mx.random.seed(1000 + f)
    model = FlagNet()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.02)
    step_fn = nn.value_and_grad(model, bce)

    best_ll, best_epoch, best_params, bad = float("inf"), 0, None, 0
    for epoch in range(1, MAX_EPOCHS + 1):
        order = mx.random.permutation(xtr.shape[0])
        for s in range(0, xtr.shape[0], BATCH):
            b = order[s:s + BATCH]
            loss, grads = step_fn(model, xtr[b], ytr[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        logits = model(xva)
        vll = bce(model, xva, yva).item()
        brier = ((mx.sigmoid(logits) - yva) ** 2).mean().item()
        if vll < best_ll - 1e-4:
            best_ll, best_epoch, bad = vll, epoch, 0
            best_params = model.parameters()  # arrays are immutable: a snapshot
        else:
            bad += 1
        if epoch == 1 or epoch % 5 == 0 or bad == PATIENCE:
            log.info("fold %d ep %02d  ll %.4f  auc %.1f%%  brier %.4f  prior_ll %.4f  wait %d/%d",
                     f + 1, epoch, vll, 100 * auc(logits, yva), brier, prior_ll, bad, PATIENCE)
        if bad == PATIENCE:
            break

    model.update(best_params)
    mx.eval(model.parameters())
    logits = model(xva)
    rec = {"fold": f + 1, "stopped": epoch, "best_epoch": best_epoch,
           "ll": round(bce(model, xva, yva).item(), 4),
           "auc_pct": round(100 * auc(logits, yva), 2),
           "acc_pct": round(100 * ((logits > 0) == (yva > 0.5)).mean().item(), 2)}
    log.info("fold %d restored epoch %d: %s", f + 1, best_epoch, json.dumps(rec))
    summary.append(rec)

_, g = step_fn(model, X[:512], Y[:512])
zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
log.info("zero-gradient tensors: %s", zero if zero else "none")
print(json.dumps({"cv_ll": round(sum(r["ll"] for r in summary) / K, 4),
                  "cv_auc_pct": round(sum(r["auc_pct"] for r in summary) / K, 2),
                  "folds": summary}))
