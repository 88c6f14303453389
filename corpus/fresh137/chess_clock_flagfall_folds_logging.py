# Club blitz archive: will the player to move LOSE ON TIME (flag fall) before
# the game ends?  8 clock/position features at move 30 of synthetic games.
# 5-fold cross-validation, a fresh MLP per fold, compiled SGD-Nesterov step,
# early stopping on validation log-loss with restore of the best weights.
import logging
import sys
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("flagfall")

rng = np.random.default_rng(1637)
N = 6000
base_min = rng.choice([3.0, 5.0, 10.0], N, p=[0.45, 0.4, 0.15])
increment = rng.choice([0.0, 2.0, 3.0, 5.0], N, p=[0.4, 0.2, 0.3, 0.1])
own_left = base_min * 60 * rng.beta(2.0, 3.0, N)           # seconds left, player to move
opp_left = base_min * 60 * rng.beta(2.5, 2.5, N)
rating_diff = rng.normal(0, 180, N)                          # own minus opponent Elo
complexity = rng.gamma(2.0, 1.0, N)                          # engine-branching proxy
material = rng.normal(0, 2.5, N)                             # own material balance, pawns
premove_rate = rng.beta(2, 5, N)                             # share of premoved moves so far

moves_left_est = 25 + 6 * complexity
sec_per_move = (own_left + increment * moves_left_est) / moves_left_est
z = (1.6 - 1.25 * np.log(sec_per_move + 0.5)
     + 0.9 * np.log((opp_left + 1) / (own_left + 1))
     - 0.0035 * rating_diff + 0.35 * complexity
     + 0.18 * np.clip(material, -4, 4) - 1.6 * premove_rate
     - 0.25 * (increment > 0))
p_flag = 1 / (1 + np.exp(-z))
y_all = (rng.uniform(size=N) < p_flag).astype(np.float32)

X_all = np.column_stack([np.log(own_left + 1), np.log(opp_left + 1), increment,
                         base_min, rating_diff / 100, complexity, material,
                         premove_rate]).astype(np.float32)


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


class FlagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        return self.head(nn.gelu(self.hidden(x))).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


K = 5
folds = np.array_split(rng.permutation(N), K)
summary = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0) + 1e-6
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    Ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = y_all[va_idx]
    prev = float(y_all[tr_idx].mean())
    prevalence_brier = float(np.mean((prev - yva) ** 2))
    pt = np.clip(p_flag[va_idx], 1e-7, 1 - 1e-7)
    oracle_ll = float(-np.mean(yva * np.log(pt) + (1 - yva) * np.log(1 - pt)))

    mx.random.seed(100 + k)
    model = FlagNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.004, momentum=0.9, nesterov=True)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = nn.value_and_grad(model, bce)(model, x, y)
        opt.update(model, grads)
        return loss

    if k == 0:
        _, g = nn.value_and_grad(model, bce)(model, Xtr[:512], Ytr[:512])
        norms = {n_: float(mx.sqrt((v * v).sum()).item()) for n_, v in tree_flatten(g)}
        log.info("grad-norm audit fold 1: %s", ", ".join(f"{n_}={v:.3g}" for n_, v in norms.items()))

    p0 = np.array(mx.sigmoid(model(Xva)))
    log.info("fold=%d epoch=00 (untrained) val_logloss=%.4f auc=%.1f%% oracle_logloss=%.4f",
             k + 1, bce(model, Xva, mx.array(yva)).item(), 100 * auc(p0, yva), oracle_ll)
    best = (float("inf"), -1, None)
    patience, bad = 5, 0
    n_tr = Xtr.shape[0]
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        nb = 0
        for s in range(0, n_tr - 63, 64):
            idx = perm[s:s + 64]
            loss = train_step(Xtr[idx], Ytr[idx])
            mx.eval(state)
            tot += loss.item()
            nb += 1
        logits = model(Xva)
        val_ll = bce(model, Xva, mx.array(yva)).item()
        p = np.array(mx.sigmoid(logits))
        a = auc(p, yva)
        brier = float(np.mean((p - yva) ** 2))
        log.info("fold=%d epoch=%02d train_logloss=%.4f val_logloss=%.4f auc=%.1f%% "
                 "brier=%.4f (prevalence brier %.4f)", k + 1, epoch, tot / nb, val_ll,
                 100 * a, brier, prevalence_brier)
        if val_ll < best[0] - 1e-4:
            best = (val_ll, epoch, tree_map(lambda v: v, model.parameters()))
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                log.info("fold=%d early stop at epoch %d, restoring epoch %d (val_logloss %.4f)",
                         k + 1, epoch, best[1], best[0])
                break
    model.update(best[2])
    mx.eval(model.parameters())
    p = np.array(mx.sigmoid(model(Xva)))
    restored_ll = bce(model, Xva, mx.array(yva)).item()
    summary.append((k + 1, best[1], restored_ll, 100 * auc(p, yva),
                    float(np.mean((p - yva) ** 2)), prevalence_brier, oracle_ll))
    log.warning("fold=%d restored check: val_logloss %.4f (best recorded %.4f, |diff| %.1e)",
                k + 1, restored_ll, best[0], abs(restored_ll - best[0]))

print()
print("fold | best ep | val logloss | oracle logloss |  AUC %  | Brier  | prevalence Brier")
print("-----+---------+-------------+----------------+---------+--------+-----------------")
for f, ep, ll, a, b, pb, ol in summary:
    print(f"{f:4d} | {ep:7d} | {ll:11.4f} | {ol:14.4f} | {a:7.2f} | {b:.4f} | {pb:.4f}")
arr = np.array([s[2:] for s in summary])
print(f"mean |         | {arr[:, 0].mean():11.4f} | {arr[:, 4].mean():14.4f} | {arr[:, 1].mean():7.2f} | "
      f"{arr[:, 2].mean():.4f} | {arr[:, 3].mean():.4f}")
