"""Churchyard survey: predict lichen cover (% of stone face) on gravestones.

Features per stone: age (years), stone type (marble / granite / sandstone / slate),
aspect (sin, cos), canopy shade, distance to road (m), stone height (cm).
4-fold cross-validation, compiled train step, early stopping that restores the best
weights of each fold. Reports go through `logging`.
"""
import logging
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s | %(message)s")
log = logging.getLogger("lichen")

random.seed(11)
mx.random.seed(11)

STONES = ["marble", "granite", "sandstone", "slate"]
GROWTH = {"marble": 1.25, "granite": 0.7, "sandstone": 1.5, "slate": 0.55}


def survey(n):
    rows, cover = [], []
    for _ in range(n):
        age = random.uniform(5, 320)
        st = random.choice(STONES)
        aspect = random.uniform(0, 2 * math.pi)
        shade = random.random()
        road = random.uniform(2, 150)
        height = random.uniform(40, 180)
        # made-up law: saturating growth with age, north faces and shade help,
        # traffic pollution near the road suppresses it
        rate = GROWTH[st] * (1.0 + 0.45 * math.cos(aspect)) * (0.6 + 0.8 * shade)
        pollution = math.exp(-road / 35.0)
        pct = 92.0 * (1.0 - math.exp(-rate * age / 140.0)) * (1.0 - 0.6 * pollution)
        pct += 0.05 * (height - 110) * shade
        pct = min(100.0, max(0.0, pct + random.gauss(0, 4.0)))
        onehot = [1.0 if st == s else 0.0 for s in STONES]
        rows.append([age / 100.0, *onehot, math.sin(aspect), math.cos(aspect), shade,
                     math.log(road), height / 100.0])
        cover.append(pct)
    return rows, cover


rows, cover = survey(2400)
X = mx.array(rows)
Y = mx.array(cover)[:, None]
mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-6
X = (X - mu) / sd


class CoverNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return 50.0 + 30.0 * self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


K = 4
N = X.shape[0]
perm = mx.array(random.sample(range(N), N))
folds = [perm[i::K] for i in range(K)]
summary = []
t0 = time.time()

for k in range(K):
    val_idx = folds[k]
    tr_idx = mx.concatenate([folds[j] for j in range(K) if j != k])
    Xtr, Ytr = X[tr_idx], Y[tr_idx]
    Xva, Yva = X[val_idx], Y[val_idx]

    model = CoverNet(X.shape[1])
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
    mx.eval(model.parameters())
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, mse)

    def train_step(x, y):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        return loss

    step = mx.compile(train_step, inputs=state, outputs=state)

    base_mae = mx.abs(Yva - Ytr.mean()).mean().item()
    best_mae, best_ep, best_w, patience = float("inf"), -1, None, 0
    ntr = Xtr.shape[0]
    for ep in range(1, 61):
        order = mx.random.permutation(ntr)
        tot = 0.0
        nb = 0
        for i in range(0, ntr, 64):
            b = order[i:i + 64]
            loss = step(Xtr[b], Ytr[b])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        pred = model(Xva)
        mae = mx.abs(pred - Yva).mean().item()
        ss_res = ((pred - Yva) ** 2).sum().item()
        ss_tot = ((Yva - Yva.mean()) ** 2).sum().item()
        r2 = 100.0 * (1.0 - ss_res / ss_tot)
        if ep == 1 or ep % 5 == 0:
            log.info("fold %d/%d epoch %02d train_mse %.2f pct^2 | val_mae %.2f pp (mean-guess %.2f pp) | R2 %.1f%%",
                     k + 1, K, ep, tot / nb, mae, base_mae, r2)
        if mae < best_mae - 0.02:
            best_mae, best_ep, patience = mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
            if patience >= 8:
                log.warning("fold %d/%d stopping at epoch %d, no val gain for 8 epochs", k + 1, K, ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = model(Xva)
    mae = mx.abs(pred - Yva).mean().item()
    r2 = 100.0 * (1.0 - ((pred - Yva) ** 2).sum().item() / ((Yva - Yva.mean()) ** 2).sum().item())
    log.info("fold %d/%d restored epoch %d weights: val_mae %.2f pp, R2 %.1f%%", k + 1, K, best_ep, mae, r2)
    summary.append((k + 1, best_ep, base_mae, mae, r2))

log.info("-" * 60)
log.info("fold | best ep | mean-guess MAE | model MAE | R2")
for f, e, b, m, r in summary:
    log.info("%4d | %7d | %11.2f pp | %6.2f pp | %5.1f%%", f, e, b, m, r)
mm = sum(s[3] for s in summary) / K
rr = sum(s[4] for s in summary) / K
log.info("cv mean: MAE %.2f pp, R2 %.1f%%  (%.1f s)", mm, rr, time.time() - t0)
