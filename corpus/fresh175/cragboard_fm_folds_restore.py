"""Climbing gym: will a climber send a route? Factorization machine over six
categorical fields (climber, route, hold style, wall angle, climber grade band,
route grade band), 4-fold cross validation, compiled train step, Adamax,
early stopping on validation AUC with restore of the best weights.
"""
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.default_rng(20261127)
N_CLIMB, N_ROUTE, N_STYLE, N_ANGLE, N_BAND = 300, 120, 4, 3, 8

skill = rs.normal(0, 1, N_CLIMB)
taste = rs.normal(0, 1, (N_CLIMB, 3))
diff = rs.normal(0, 1, N_ROUTE)
style = rs.integers(0, N_STYLE, N_ROUTE)
angle = rs.integers(0, N_ANGLE, N_ROUTE)
style_vec = rs.normal(0, 1, (N_STYLE, 3))
angle_pen = np.array([0.3, 0.0, -0.5])  # slab / vertical / overhang


def band(v):
    return np.clip(((v + 2.0) / 4.0 * N_BAND).astype(int), 0, N_BAND - 1)


N_LOG = 9000
c = rs.integers(0, N_CLIMB, N_LOG)
r = rs.integers(0, N_ROUTE, N_LOG)
logit = (1.8 * (skill[c] - diff[r]) + 0.8 * (taste[c] * style_vec[style[r]]).sum(1)
         + angle_pen[angle[r]] * (1 + 0.5 * (skill[c] < 0)))
sent = (rs.random(N_LOG) < 1 / (1 + np.exp(-logit))).astype(np.float32)

offsets = np.cumsum([0, N_CLIMB, N_ROUTE, N_STYLE, N_ANGLE, N_BAND])
# grade bands are noisy self-reports / setter grades
c_band = band(skill[c] + rs.normal(0, 0.5, N_LOG))
r_band = band(diff[r] + rs.normal(0, 0.5, N_LOG))
feats = np.stack([c + offsets[0], r + offsets[1], style[r] + offsets[2],
                  angle[r] + offsets[3], c_band + offsets[4], r_band + offsets[5]], 1)
N_FEAT = int(offsets[-1] + N_BAND)
gap = (c_band - r_band).astype(np.float32)  # the grade-gap rule of thumb


def auc(score, label):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    # average ties
    _, inv, cnt = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, ranks)
    ranks = (sums / cnt)[inv]
    pos = label > 0.5
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


class FM(nn.Module):
    def __init__(self, n_feat, k=8):
        super().__init__()
        self.bias = mx.zeros((1,))
        self.w = mx.zeros((n_feat,))
        self.v = mx.random.normal((n_feat, k)) * 0.05

    def __call__(self, idx):
        lin = self.bias + self.w[idx].sum(-1)
        e = self.v[idx]  # (B, F, k)
        pair = 0.5 * (e.sum(1) ** 2 - (e ** 2).sum(1)).sum(-1)
        return lin + pair


def bce(model, idx, y):
    return nn.losses.binary_cross_entropy(model(idx), y, with_logits=True, reduction="mean") \
        + 1e-5 * (model.v ** 2).sum()


FOLDS, BS, MAX_EP, PATIENCE = 4, 256, 25, 3
perm = rs.permutation(N_LOG)
fold_of = np.empty(N_LOG, int)
fold_of[perm] = np.arange(N_LOG) % FOLDS
X_all, Y_all = mx.array(feats.astype(np.int32)), mx.array(sent)

print(f"send rate {sent.mean()*100:.1f}%  |  {N_FEAT} one-hot columns  |  {FOLDS} folds")
print("| fold | ep | bce    | val AUC % | gap-rule AUC % | note     |")
print("|------|----|--------|-----------|----------------|----------|")
results = []
for fold in range(FOLDS):
    mx.random.seed(fold)
    tr = np.where(fold_of != fold)[0]
    va = np.where(fold_of == fold)[0]
    Xv = X_all[mx.array(va)]
    yv = sent[va]
    gap_auc = auc(gap[va], yv) * 100

    model = FM(N_FEAT)
    opt = optim.Adamax(learning_rate=0.02)
    loss_and_grad = nn.value_and_grad(model, bce)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(idx, y):
        loss, g = loss_and_grad(model, idx, y)
        opt.update(model, g)
        return loss

    if fold == 0:
        _, g0 = loss_and_grad(model, X_all[:BS], Y_all[:BS])
        norms = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
        print("  grad check: " + ", ".join(f"{k}={v:.3g}" for k, v in norms.items()))

    best, best_ep, best_params, wait = -1.0, 0, None, 0
    for ep in range(1, MAX_EP + 1):
        order = rs.permutation(tr)
        tot = 0.0
        nb = 0
        for s in range(0, len(order) - BS + 1, BS):
            b = mx.array(order[s:s + BS])
            loss = step(X_all[b], Y_all[b])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        va_auc = auc(np.array(model(Xv)), yv) * 100
        note = ""
        if va_auc > best:
            best, best_ep, wait = va_auc, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            note = "*best"
        else:
            wait += 1
        print(f"| {fold:4d} | {ep:2d} | {tot/nb:.4f} | {va_auc:9.2f} | {gap_auc:14.2f} | {note:8s} |")
        if wait >= PATIENCE:
            break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = auc(np.array(model(Xv)), yv) * 100
    print(f"|  -> fold {fold} stopped at ep {ep}, restored ep {best_ep}: val AUC {restored:.2f}% |")
    results.append((restored, gap_auc))

res = np.array(results)
print(f"CV AUC {res[:,0].mean():.2f}% +/- {res[:,0].std():.2f}  (grade-gap rule {res[:,1].mean():.2f}%)")
