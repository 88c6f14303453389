"""Will the sandcastle survive the incoming tide?  stands / slumps / washed away.

5-fold cross-validation; every fold starts a fresh model, early-stops on the
fold's validation loss and restores the best weights before scoring.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("sandcastle")

rng = np.random.default_rng(7151)
N = 4000
moist = rng.uniform(2, 25, N)          # water content, % by mass
grain = rng.uniform(0.1, 1.0, N)       # median grain size, mm
slope = rng.uniform(30, 85, N)         # wall slope, degrees
height = rng.uniform(10, 80, N)        # cm
packs = rng.integers(0, 12, N)         # compaction passes with the spade
dist = rng.uniform(0.5, 15, N)         # metres above the waterline reach
wave = rng.uniform(0.1, 1.2, N)        # significant wave height, m
shells = rng.uniform(0, 1, N)          # decoration density (pure noise)

# made-up law: capillary cohesion peaks near 8-12 % water, fine sand binds better
cohesion = np.exp(-((moist - 10.0) / 6.0) ** 2) * (1.3 - grain) + 0.06 * packs
attack = wave * 6.0 / dist + 0.012 * height + 0.02 * (slope - 60)
score = 2.2 * cohesion - 1.6 * attack + rng.logistic(0, 0.35, N)
label = np.where(score > 0.4, 0, np.where(score > -0.6, 1, 2))  # 0 stands, 1 slumps, 2 washed
X = np.stack([moist, grain, slope, height, packs, dist, wave, shells], 1).astype(np.float32)
names = ["stands", "slumps", "washed"]
log.info("class shares: %s", ", ".join(f"{n} {100 * np.mean(label == i):.1f}%" for i, n in enumerate(names)))


class CastleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


folds = np.array_split(rng.permutation(N), 5)
table = []
for k in range(5):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    Xtr, ytr = mx.array((X[tr] - mu) / sd), mx.array(label[tr])
    Xva, yva = mx.array((X[va] - mu) / sd), mx.array(label[va])
    majority = 100 * np.mean(label[va] == np.bincount(label[tr]).argmax())

    mx.random.seed(100 + k)
    model = CastleNet()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, xent)
    if k == 0:
        _, g = vg(model, Xtr[:256], ytr[:256])
        dead = [n for n, a in tree_flatten(g) if float(mx.abs(a).max()) == 0]
        log.info("grad check: %d tensors, zero-grad tensors: %s", len(tree_flatten(g)), dead or "none")

    best, best_ep, best_params, wait = math.inf, -1, None, 0
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for i in range(0, len(tr), 64):
            idx = perm[i:i + 64]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * idx.shape[0]
        logits = model(Xva)
        vloss = float(xent(model, Xva, yva))
        acc = 100 * float(mx.mean(mx.argmax(logits, 1) == yva))
        if vloss < best - 1e-4:
            best, best_ep, wait = vloss, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        if ep % 5 == 0 or ep == 1:
            log.info("fold=%d ep=%02d loss=%.4f val_loss=%.4f acc=%.1f%% (majority %.1f%%)",
                     k + 1, ep, tot / len(tr), vloss, acc, majority)
        if wait >= 6:
            log.info("fold=%d early stop at ep=%02d, restoring ep=%02d (val_loss %.4f)", k + 1, ep, best_ep, best)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = np.array(mx.argmax(model(Xva), 1))
    yv = label[va]
    acc = 100 * np.mean(pred == yv)
    f1s = []
    for c in range(3):
        tp = np.sum((pred == c) & (yv == c))
        p = tp / max(1, np.sum(pred == c))
        r = tp / max(1, np.sum(yv == c))
        f1s.append(0 if p + r == 0 else 2 * p * r / (p + r))
    table.append((k + 1, best_ep, best, acc, 100 * np.mean(f1s), majority))

print()
print("fold | best ep | val xent | acc %  | macro-F1 % | majority %")
print("-----+---------+----------+--------+------------+-----------")
for row in table:
    print("%4d | %7d | %8.4f | %6.2f | %10.2f | %9.2f" % row)
arr = np.array(table)
print("mean |         | %8.4f | %6.2f | %10.2f | %9.2f" % tuple(arr[:, 2:].mean(0)))
