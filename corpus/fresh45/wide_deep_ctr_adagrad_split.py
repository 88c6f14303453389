"""Wide & Deep click-through model on a synthetic ad log.

wide part : hashed cross-feature (site x ad) ids -> one logit each (Embedding(dim=1)), summed
deep part : 3 categorical fields embedded + 4 dense features -> MLP
The two parts get different optimizers (Adagrad for the sparse wide table,
Adam for the deep tower) through optim.MultiOptimizer, like the original paper
(FTRL for wide / AdaGrad for deep, here simplified).
Every epoch: validation log-loss and a hand-computed rank AUC.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_SITE, N_AD, N_DEV = 40, 30, 5
HASH = 512
N_TRAIN, N_VAL = 24000, 4000


def make_log(n):
    site = rng.integers(0, N_SITE, n)
    ad = rng.integers(0, N_AD, n)
    dev = rng.integers(0, N_DEV, n)
    dense = rng.normal(size=(n, 4)).astype(np.float32)
    # ground truth: a few site x ad pairs are "hot" (memorisation part), plus
    # a smooth function of the dense features (generalisation part)
    hot = ((site * 7 + ad * 3) % 11 == 0).astype(np.float32)
    z = (-1.3 + 2.2 * hot + 0.8 * np.tanh(dense[:, 0] * dense[:, 1])
         - 0.6 * dense[:, 2] + 0.3 * (dev == 2))
    p = 1.0 / (1.0 + np.exp(-z))
    y = (rng.random(n) < p).astype(np.float32)
    cross = (site * 1009 + ad * 917) % HASH
    return (mx.array(site), mx.array(ad), mx.array(dev), mx.array(dense),
            mx.array(cross), mx.array(y))


train = make_log(N_TRAIN)
val = make_log(N_VAL)


class WideDeep(nn.Module):
    def __init__(self):
        super().__init__()
        self.wide = nn.Embedding(HASH, 1)
        self.wide.weight = mx.zeros((HASH, 1))
        self.site_emb = nn.Embedding(N_SITE, 8)
        self.ad_emb = nn.Embedding(N_AD, 8)
        self.dev_emb = nn.Embedding(N_DEV, 4)
        self.deep = nn.Sequential(
            nn.Linear(8 + 8 + 4 + 4, 64), nn.ReLU(),
            nn.Linear(64, 32), nn.ReLU(),
            nn.Linear(32, 1),
        )

    def __call__(self, site, ad, dev, dense, cross):
        w = self.wide(cross)[:, 0]
        h = mx.concatenate([self.site_emb(site), self.ad_emb(ad),
                            self.dev_emb(dev), dense], axis=1)
        return w + self.deep(h)[:, 0]


def loss_fn(model, site, ad, dev, dense, cross, y):
    logits = model(site, ad, dev, dense, cross)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")


def rank_auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


model = WideDeep()
mx.eval(model.parameters())
opt = optim.MultiOptimizer(
    [optim.Adagrad(learning_rate=0.03), optim.Adam(learning_rate=2e-3)],
    [lambda name, w: name.startswith("wide")],
)
loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off sanity check: every leaf receives gradient on the first batch
_, g0 = loss_and_grad(model, *(a[:512] for a in train))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"params={sum(v.size for _, v in tree_flatten(model.parameters()))} "
      f"leaves={len(tree_flatten(g0))} zero-grad leaves={zero}")

base_rate = float(train[-1].mean())
prior_ll = -(base_rate * math.log(base_rate) + (1 - base_rate) * math.log(1 - base_rate))
print(f"click rate {base_rate:.3f}  constant-predictor logloss {prior_ll:.4f}")

BS = 256
t0 = time.time()
for epoch in range(1, 7):
    perm = mx.array(rng.permutation(N_TRAIN))
    run, nb = 0.0, 0
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        batch = [a[idx] for a in train]
        loss, grads = loss_and_grad(model, *batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
    vlogits = model(*val[:-1])
    vloss = loss_fn(model, *val).item()
    auc = rank_auc(np.array(vlogits), np.array(val[-1]))
    wide_norm = float(mx.sqrt((model.wide.weight ** 2).sum()))
    print(f"E{epoch:02d} train_ll={run / nb:.4f} val_ll={vloss:.4f} "
          f"val_auc={auc:.3f} |wide|={wide_norm:.2f} t={time.time() - t0:.1f}s")
