"""Pool-based active learning (uncertainty sampling).  Each round labels 40 more
points from the pool and keeps training the same classifier.  The reported
training objective is the *summed* cross-entropy over the labelled set, so it
grows as the labelled set grows, while held-out accuracy improves."""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("al")

rng = np.random.default_rng(5)
mx.random.seed(5)


def two_moons(n):
    t = rng.uniform(0, np.pi, n)
    a = np.stack([np.cos(t), np.sin(t)], 1)
    b = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    X = np.concatenate([a, b]) + 0.12 * rng.normal(size=(2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int32)
    return X.astype(np.float32), y


Xpool, ypool = two_moons(1500)
Xte, yte = two_moons(400)
Xte, yte = mx.array(Xte), mx.array(yte)

labelled = list(rng.choice(len(Xpool), size=20, replace=False))
model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
opt = optim.Adam(learning_rate=1e-2)


def summed_ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="sum")


vg = nn.value_and_grad(model, summed_ce)

for rnd in range(10):
    X = mx.array(Xpool[labelled])
    Y = mx.array(ypool[labelled])
    for epoch in range(60):
        loss, g = vg(model, X, Y)
        # gradient of the summed loss; scale down so the step size does not grow with the set
        opt.update(model, tree_map(lambda a: a / X.shape[0], g))
        mx.eval(model.parameters(), opt.state, loss)
        if epoch in (0, 20, 40):
            log.info("round %d epoch %2d | train_ce_sum=%8.3f", rnd, epoch, loss.item())
    acc = mx.mean(mx.argmax(model(Xte), axis=1) == yte).item()
    log.info("round %d | labelled=%4d | train_ce_sum=%8.3f | test_acc=%.3f", rnd, len(labelled), loss.item(), acc)
    # query: the 40 pool points with the highest predictive entropy
    probs = mx.softmax(model(mx.array(Xpool)), axis=1)
    ent = -mx.sum(probs * mx.log(probs + 1e-9), axis=1)
    ent = np.array(ent)
    ent[labelled] = -1.0
    labelled += list(np.argsort(-ent)[:40])
