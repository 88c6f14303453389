"""Snow-groomer telemetry: tell the snow under the tiller from its torque trace.

A piste basher logs tiller torque at 24 points per metre.  Night-shift crews
want a classifier for four snow types: fresh powder, packed, icy, spring slush.
Four-fold cross validation, early stopping on the held-out fold with the best
weights restored before scoring.
"""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s groomer: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("groomer")

SNOW = ["powder", "packed", "icy", "slush"]
T = 24
rng = np.random.default_rng(4163)


def traces(n):
    y = rng.choice(4, size=n, p=[0.4, 0.3, 0.15, 0.15])
    t = np.arange(T)[None, :]
    level = np.array([0.6, 1.0, 1.5, 0.9])[y][:, None]
    chatter = np.array([0.05, 0.15, 0.45, 0.1])[y][:, None]     # icy: high-frequency chatter
    period = np.array([12.0, 8.0, 3.0, 16.0])[y][:, None]
    drag = np.array([0.0, 0.0, 0.0, 0.02])[y][:, None]          # slush builds up on the drum
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = level + chatter * np.sin(2 * np.pi * t / period + phase) + drag * t
    x = x * rng.uniform(0.8, 1.2, (n, 1)) + rng.normal(0, 0.18, (n, T))
    return x.astype(np.float32)[..., None], y.astype(np.int32)


X, Y = traces(1600)


class TillerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(12, 16, kernel_size=3, padding=1)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        feats = mx.concatenate([mx.mean(h, axis=1), mx.max(h, axis=1)], axis=-1)
        return self.head(feats)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


folds = np.array_split(rng.permutation(len(Y)), 4)
table = []
for k, val_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    xtr, ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    xva, yva = mx.array(X[val_idx]), mx.array(Y[val_idx])
    majority = 100.0 * np.mean(Y[val_idx] == np.bincount(Y[tr_idx]).argmax())

    mx.random.seed(100 + k)
    model = TillerNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    if k == 0:
        _, g = vg(model, xtr[:64], ytr[:64])
        zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
        log.info("grad audit: %d tensors, %d with zero grad %s", len(tree_flatten(g)), len(zero), zero)

    best, best_ep, wait, best_w = float("inf"), -1, 0, None
    n_tr = len(tr_idx)
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(n_tr))
        run = 0.0
        nb = 0
        for i in range(0, n_tr, 48):
            b = perm[i:i + 48]
            loss, g = vg(model, xtr[b], ytr[b])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item(); nb += 1
        logits = model(xva)
        vloss = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        vacc = 100.0 * mx.mean(mx.argmax(logits, axis=1) == yva).item()
        mark = ""
        if vloss < best - 1e-4:
            best, best_ep, wait = vloss, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mark = " *"
        else:
            wait += 1
        if ep % 3 == 0 or mark:
            log.info("fold %d/4 epoch %2d | xent %.4f | held-out xent %.4f acc %5.1f%%%s",
                     k + 1, ep, run / nb, vloss, vacc, mark)
        if wait >= 8:
            log.info("fold %d/4 patience out at epoch %d, restoring epoch %d", k + 1, ep, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    logits = model(xva)
    acc = 100.0 * mx.mean(mx.argmax(logits, axis=1) == yva).item()
    cm = np.zeros((4, 4), dtype=int)
    for t_, p_ in zip(Y[val_idx], np.array(mx.argmax(logits, axis=1))):
        cm[t_, p_] += 1
    recall = cm.diagonal() / np.maximum(cm.sum(1), 1)
    table.append((k + 1, best_ep, best, acc, majority, recall))

print()
print("fold | best ep | held-out xent | accuracy | majority-class | recall powder/packed/icy/slush")
print("-----+---------+---------------+----------+----------------+-------------------------------")
for k, e, b, a, m, r in table:
    print(f"  {k}  |   {e:3d}   |    {b:.4f}     |  {a:5.1f}%  |     {m:5.1f}%     | " + " ".join(f"{v:.2f}" for v in r))
accs = [row[3] for row in table]
print(f"mean accuracy {np.mean(accs):.1f}% +- {np.std(accs):.1f} (majority {np.mean([row[4] for row in table]):.1f}%)")
