"""Fire-lookout tower log: what was that plume?

Each report from a summer lookout is one of four things:
  0 wildfire smoke, 1 dust devil / road dust, 2 fog or low cloud, 3 permitted burn
described by 8 readings the lookout writes down (azimuth spread, colour index,
column height, drift rate, hours since noon, humidity, wind, distance to nearest
permit). Five-fold cross-validation, a compiled Lion step per fold, early stopping
on held-out log-loss with the best weights restored before scoring the fold.
"""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s.%(msecs)03d %(levelname)-5s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("lookout")

mx.random.seed(11)
CLASSES = ["wildfire", "dust", "fog", "permit_burn"]


def tower_log(n, key):
    ks = mx.random.split(key, 4)
    y = mx.random.categorical(mx.log(mx.array([0.30, 0.25, 0.25, 0.20])), shape=(n,), key=ks[0])
    # class prototypes over 8 standardised readings (made-up field knowledge)
    proto = mx.array([
        [0.9, 0.8, 1.0, 0.3, 0.6, -0.8, 0.5, 0.9],     # wildfire: tall, dark, dry, far from permits
        [0.2, -0.4, -0.6, 1.1, 0.4, -0.5, 1.2, 0.1],   # dust: low, fast drift, windy
        [-0.6, -1.0, -0.2, -0.3, -1.1, 1.2, -0.4, 0.0],  # fog: morning, humid, pale
        [0.4, 0.5, 0.3, 0.0, 0.2, -0.1, -0.2, -1.2],   # permit burn: near a permit
    ])
    x = proto[y] + 0.85 * mx.random.normal(shape=(n, 8), key=ks[1])
    # a few reports are mislabelled in the log book
    flip = mx.random.uniform(shape=(n,), key=ks[2]) < 0.04
    y = mx.where(flip, mx.random.randint(0, 4, shape=(n,), key=ks[3]), y)
    return x, y


class PlumeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 40)
        self.b = nn.Linear(40, 40)
        self.out = nn.Linear(40, 4)

    def __call__(self, x):
        return self.out(nn.gelu(self.b(nn.gelu(self.a(x)))))


def xent(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def balanced_acc(model, x, y):
    pred = mx.argmax(model(x), axis=1)
    recalls = []
    for c in range(4):
        m = y == c
        recalls.append((mx.sum((pred == c) & m) / mx.maximum(mx.sum(m), 1)).item())
    return 100.0 * sum(recalls) / 4


X, Y = tower_log(3000, mx.random.key(5))
folds = mx.split(mx.random.permutation(X.shape[0], key=mx.random.key(9)), 5)
summary = []

for f, val_idx in enumerate(folds):
    tr_idx = mx.concatenate([folds[j] for j in range(5) if j != f])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[val_idx], Y[val_idx]
    model = PlumeNet()
    opt = optim.Lion(learning_rate=3e-4, weight_decay=0.02)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, xent)

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_ep, best_params, wait = float("inf"), -1, None, 0
    log.info("fold %d/5 start  train=%d held-out=%d", f + 1, xtr.shape[0], xva.shape[0])
    for ep in range(1, 61):
        perm = mx.random.permutation(xtr.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, xtr.shape[0], 50):
            idx = perm[i:i + 50]
            loss = train_step(xtr[idx], ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        vl = xent(model, xva, yva).item()
        ba = balanced_acc(model, xva, yva)
        if ep % 3 == 0 or ep == 1:
            log.info("fold %d ep %02d  train_xent %.4f  heldout_xent %.4f  bal_acc %5.1f%%  (chance 25.0%%)",
                     f + 1, ep, tot / nb, vl, ba)
        if vl < best - 1e-4:
            best, best_ep, wait = vl, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
            if wait >= 6:
                log.info("fold %d early stop at ep %d (best ep %d, patience 6)", f + 1, ep, best_ep)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = xent(model, xva, yva).item()
    ba = balanced_acc(model, xva, yva)
    log.info("fold %d restored ep %d  heldout_xent %.4f  |diff vs best| %.2e  bal_acc %.1f%%",
             f + 1, best_ep, restored, abs(restored - best), ba)
    summary.append((f + 1, best_ep, restored, ba))

print()
print("fold | best_ep | heldout_xent | bal_acc%")
for r in summary:
    print(f"{r[0]:>4} | {r[1]:>7} | {r[2]:>12.4f} | {r[3]:>7.1f}")
mxe = sum(r[2] for r in summary) / 5
mba = sum(r[3] for r in summary) / 5
print(f"mean |         | {mxe:>12.4f} | {mba:>7.1f}   (uniform guess xent {math.log(4):.4f}, chance 25.0)")
