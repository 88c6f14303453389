"""Canoe slalom gate outcomes: clean / touch (+2 s) / miss (+50 s).

4-fold cross-validation over synthetic gate passages, a fresh model per fold,
learning-rate warm-up that starts at exactly 0, early stopping on the fold's
validation cross-entropy with the best weights restored, then a summary table.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s slalom | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("slalom")

rng = np.random.default_rng(1307)
N = 8000
PENALTY = np.array([0.0, 2.0, 50.0], dtype=np.float32)

# features: boat speed (m/s), approach angle (deg), upstream gate flag, eddy
# strength, paddler fatigue (0-1), gate offset from line (m), water level (cm), K1/C1
speed = rng.normal(3.0, 0.5, N)
angle = rng.normal(0, 20, N)
upstream = rng.integers(0, 2, N)
eddy = rng.gamma(2.0, 0.5, N)
fatigue = rng.uniform(0, 1, N)
offset = rng.normal(0, 1.0, N)
level = rng.normal(0, 15, N)
c1 = rng.integers(0, 2, N)
risk = (0.8 * np.abs(angle) / 20 + 0.9 * upstream * eddy + 1.2 * fatigue ** 2 + 0.7 * np.abs(offset)
        + 0.4 * (speed - 3.0) ** 2 + 0.02 * level * upstream + 0.3 * c1 - 1.6)
logit_touch = 1.2 * risk + 0.5
logit_miss = 2.0 * risk - 2.2
logits = np.stack([np.zeros(N), logit_touch, logit_miss], 1) + rng.gumbel(size=(N, 3))
y_np = logits.argmax(1).astype(np.int32)
X_np = np.stack([speed, angle, upstream, eddy, fatigue, offset, level, c1], 1).astype(np.float32)
X_np = (X_np - X_np.mean(0)) / X_np.std(0)
log.info("passages=%d  clean=%.1f%%  touch=%.1f%%  miss=%.1f%%", N, *(100 * np.bincount(y_np, minlength=3) / N))

FOLDS, MAX_EPOCHS, BS, PATIENCE = 4, 40, 128, 5
fold_id = rng.permutation(N) % FOLDS


class GateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def scores(model, x, y):
    lg = model(x)
    ce = nn.losses.cross_entropy(lg, y, reduction="mean").item()
    pred = mx.argmax(lg, axis=1)
    acc = mx.mean(pred == y).item()
    # expected penalty seconds vs. actual penalty seconds (lower is better)
    p = mx.softmax(lg, axis=1)
    pen = mx.array(PENALTY)
    mae = mx.mean(mx.abs(p @ pen - pen[y])).item()
    return ce, acc, mae


rows = []
t0 = time.time()
for f in range(FOLDS):
    tr, va = np.where(fold_id != f)[0], np.where(fold_id == f)[0]
    xtr, ytr = mx.array(X_np[tr]), mx.array(y_np[tr])
    xva, yva = mx.array(X_np[va]), mx.array(y_np[va])
    mx.random.seed(100 + f)
    model = GateNet()
    mx.eval(model.parameters())
    steps_per_epoch = (len(tr) + BS - 1) // BS
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, warm), optim.cosine_decay(0.05, MAX_EPOCHS * steps_per_epoch - warm, 0.002)],
        [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, xent)
    log.info("fold %d/%d: fresh GateNet, %d train / %d val, lr at step 0 = %.4f", f + 1, FOLDS, len(tr), len(va), sched(0).item())

    if f == 0:
        _, g = vg(model, xtr[:512], ytr[:512])
        dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
        log.info("gradient check: %d tensors, zero-gradient tensors: %s", len(tree_flatten(g)), dead or "none")

    best, best_ep, best_w, wait = float("inf"), 0, None, 0
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        run = 0.0
        for i in range(0, len(tr), BS):
            idx = perm[i:i + BS]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
        ce, acc, mae = scores(model, xva, yva)
        lr_now = opt.learning_rate.item()
        log.info("fold %d/%d epoch %02d  lr=%.4f  train_ce=%.4f  val_ce=%.4f  acc=%.1f%%  pen_mae=%.2fs",
                 f + 1, FOLDS, ep, lr_now, run / steps_per_epoch, ce, 100 * acc, mae)
        if ce < best - 1e-4:
            best, best_ep, wait = ce, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
            if wait >= PATIENCE:
                log.info("fold %d: no val_ce gain for %d epochs, stopping at epoch %d", f + 1, PATIENCE, ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    ce, acc, mae = scores(model, xva, yva)
    log.info("fold %d: restored epoch %d weights -> val_ce=%.4f acc=%.1f%%", f + 1, best_ep, ce, 100 * acc)
    # majority-class reference for the same fold
    prior = np.bincount(y_np[tr], minlength=3) / len(tr)
    prior_ce = float(-np.mean(np.log(prior[y_np[va]])))
    rows.append((f + 1, best_ep, ce, prior_ce, 100 * acc, 100 * np.mean(y_np[va] == prior.argmax()), mae))

print()
print("fold | best_ep | val_ce | prior_ce | acc %  | majority % | pen_mae s")
print("-----+---------+--------+----------+--------+------------+----------")
for r in rows:
    print(f"{r[0]:>4} | {r[1]:>7} | {r[2]:.4f} | {r[3]:8.4f} | {r[4]:6.1f} | {r[5]:10.1f} | {r[6]:8.2f}")
m = np.array([r[2:] for r in rows])
print(f"mean |         | {m[:,0].mean():.4f} | {m[:,1].mean():8.4f} | {m[:,2].mean():6.1f} | {m[:,3].mean():10.1f} | {m[:,4].mean():8.2f}")
print(f"wall {time.time() - t0:.1f}s")
