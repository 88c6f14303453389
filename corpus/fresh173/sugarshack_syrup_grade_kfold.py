"""Sugar shack: predict the maple syrup colour grade of a boil from sap and evaporator logs.

Grades: 0 golden/delicate, 1 amber/rich, 2 dark/robust, 3 very dark/strong.
5-fold cross-validation; each fold trains a fresh MLP with a compiled
SGD-Nesterov step, stops early on validation accuracy and restores the best
epoch's weights before scoring the fold.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s shack: %(message)s")
log = logging.getLogger("shack")

rng = np.random.default_rng(20260327)
mx.random.seed(327)
N = 1500
season_day = rng.uniform(0, 45, N)            # days since first run
brix = rng.normal(2.2, 0.5, N).clip(0.8, 4.0)  # sap sugar %
sap_age_h = rng.exponential(14.0, N)           # hours sap sat in the tank
night_c = rng.normal(-5.0, 4.0, N)
day_c = night_c + rng.uniform(4.0, 14.0, N)
boil_min = rng.uniform(40, 220, N)
ro_used = rng.integers(0, 2, N)                # reverse osmosis concentrator
pan_depth_cm = rng.uniform(2.0, 6.0, N)
latent = (0.055 * season_day + 0.045 * sap_age_h + 0.006 * boil_min - 0.45 * brix
          + 0.12 * np.maximum(day_c - 8.0, 0.0) - 0.35 * ro_used + 0.15 * pan_depth_cm
          + rng.normal(0.0, 0.45, N))
cuts = np.quantile(latent, [0.3, 0.62, 0.88])
grade = np.digitize(latent, cuts).astype(np.int32)
X = np.stack([season_day / 45.0, (brix - 2.2) / 0.5, np.log1p(sap_age_h) / 3.0,
              night_c / 4.0, day_c / 6.0, (boil_min - 130.0) / 52.0, ro_used,
              (pan_depth_cm - 4.0) / 1.2], axis=1).astype(np.float32)
GRADE_NAMES = ["golden", "amber", "dark", "v.dark"]


class GradeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 48)
        self.norm = nn.LayerNorm(48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 4)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = nn.gelu(self.mid(h)) + h
        return self.out(h)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def run_fold(k, tr, va, max_epochs=60, patience=8, bs=64):
    model = GradeNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    lg = nn.value_and_grad(model, xent)

    # check every tensor gets gradient before training the fold
    _, g = lg(model, mx.array(X[tr[:128]]), mx.array(grade[tr[:128]]))
    dead = [n for n, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    assert not dead, dead

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        return loss

    Xva, yva = mx.array(X[va]), grade[va]
    best_acc, best_ep, best_params, wait = -1.0, -1, None, 0
    for ep in range(1, max_epochs + 1):
        perm = rng.permutation(tr)
        tot, nb = 0.0, 0
        for i in range(0, len(perm), bs):
            b = perm[i:i + bs]
            loss = step(mx.array(X[b]), mx.array(grade[b]))
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        pred = np.array(mx.argmax(model(Xva), axis=1))
        acc = float((pred == yva).mean())
        if acc > best_acc:
            best_acc, best_ep, wait = acc, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        log.info("fold %d/5 epoch %02d | xent %.4f | val_acc %5.1f%% | best %5.1f%% @ep%d | patience %d/%d",
                 k, ep, tot / nb, 100 * acc, 100 * best_acc, best_ep, wait, patience)
        if wait >= patience:
            log.info("fold %d/5 early stop at epoch %d", k, ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = np.array(mx.argmax(model(Xva), axis=1))
    restored = float((pred == yva).mean())
    log.info("fold %d/5 restored epoch %d weights -> val_acc %.1f%% (recorded %.1f%%)",
             k, best_ep, 100 * restored, 100 * best_acc)
    per_grade = [float((pred[yva == c] == c).mean()) if (yva == c).any() else float("nan") for c in range(4)]
    return restored, best_ep, per_grade


t0 = time.time()
folds = np.array_split(rng.permutation(N), 5)
rows = []
for k in range(5):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    majority = float((grade[va] == np.bincount(grade[tr]).argmax()).mean())
    acc, ep, per_grade = run_fold(k + 1, tr, va)
    rows.append((k + 1, acc, majority, ep, per_grade))

print()
print("fold | val_acc | majority | best_ep | " + " | ".join(f"{g:>7s}" for g in GRADE_NAMES))
for k, acc, maj, ep, pg in rows:
    print(f"{k:4d} | {100*acc:6.1f}% | {100*maj:7.1f}% | {ep:7d} | " + " | ".join(f"{100*p:6.1f}%" for p in pg))
accs = np.array([r[1] for r in rows])
print(f"mean val_acc {100*accs.mean():.1f}% +/- {100*accs.std():.1f}  (majority baseline {100*np.mean([r[2] for r in rows]):.1f}%)"
      f"  wall {time.time()-t0:.1f}s")
