"""Parking-meter coin validator: tell 6 coin denominations, an arcade token and
a slug apart from the validator's sensor readings. 4-fold CV, compiled SGD
step, early stopping on fold accuracy with restore of the best weights."""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
log = logging.getLogger("coinval")

rng = np.random.default_rng(77)
# name, diameter mm, thickness mm, mass g, conductivity (MS/m), magnetic
COINS = [
    ("5c", 21.25, 1.67, 3.92, 9.0, 1.0),
    ("10c", 19.75, 1.93, 4.10, 9.5, 0.0),
    ("20c", 22.25, 2.14, 5.74, 9.5, 0.0),
    ("50c", 24.25, 2.38, 7.80, 9.5, 0.0),
    ("1e", 23.25, 2.33, 7.50, 5.5, 0.3),
    ("2e", 25.75, 2.20, 8.50, 5.0, 0.3),
    ("token", 24.00, 2.30, 6.90, 14.0, 0.0),
    ("slug", 24.30, 2.35, 7.20, 1.5, 1.0),
]
K = len(COINS)
PER = 700


def sense(n_per):
    rows, labels = [], []
    for k, (_, d, t, m, cond, mag) in enumerate(COINS):
        wear = rng.gamma(2.0, 0.04, n_per)                  # worn coins are thinner / lighter
        dd = d - 0.6 * wear + rng.normal(0, 0.55, n_per)
        tt = t - 0.4 * wear + rng.normal(0, 0.15, n_per)
        mm = m * (1 - 0.03 * wear) + rng.normal(0, 0.45, n_per)
        cc = cond * np.exp(rng.normal(0, 0.35, n_per))
        # inductive coil: two excitation frequencies, real/imag parts
        skin = 1.0 / np.sqrt(cc + 0.5)
        c1r = 0.6 * dd * (1 - skin) + 3.0 * mag + rng.normal(0, 1.1, n_per)
        c1i = 0.9 * tt * skin * 10 + rng.normal(0, 1.1, n_per)
        c2r = 0.4 * dd * (1 - 0.5 * skin) - 1.5 * mag + rng.normal(0, 1.1, n_per)
        drop = 41.0 - 0.8 * mm + 0.3 * dd + rng.normal(0, 0.9, n_per)   # ms through the chute
        rows.append(np.stack([dd, tt, mm, c1r, c1i, c2r, drop, cc], 1))
        labels.append(np.full(n_per, k))
    x = np.concatenate(rows).astype(np.float32)
    y = np.concatenate(labels).astype(np.int32)
    p = rng.permutation(len(y))
    return x[p], y[p]


X, Y = sense(PER)
FOLDS = 4
fold_of = np.arange(len(Y)) % FOLDS


class Validator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 48)
        self.fc2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, K)

    def __call__(self, x):
        return self.head(nn.gelu(self.fc2(nn.gelu(self.fc1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def centroid_acc(xtr, ytr, xva, yva):
    cents = np.stack([xtr[ytr == k].mean(0) for k in range(K)])
    d = ((xva[:, None, :] - cents[None]) ** 2).sum(-1)
    return 100.0 * (d.argmin(1) == yva).mean()


summary = []
t_start = time.time()
for fold in range(FOLDS):
    tr, va = fold_of != fold, fold_of == fold
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    xtr, xva = (X[tr] - mu) / sd, (X[va] - mu) / sd
    ytr, yva = Y[tr], Y[va]
    ref = centroid_acc(xtr, ytr, xva, yva)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    mx.random.seed(100 + fold)
    model = Validator()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, weight_decay=1e-4, nesterov=True)
    mx.eval(model.parameters())

    if fold == 0:
        _, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], Ytr[:256])
        flat = tree_flatten(g)
        log.info("grad check: %d/%d tensors with non-zero grad, norms %s",
                 sum(float(mx.abs(v).sum()) > 0 for _, v in flat), len(flat),
                 " ".join(f"{float(mx.linalg.norm(v)):.2f}" for _, v in flat))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    best_acc, best_ep, best_params, patience = -1.0, 0, None, 0
    n = Xtr.shape[0]
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for b in range(0, n, 128):
            idx = perm[b:b + 128]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(state, loss)
            tot += float(loss) * idx.shape[0]
        acc = 100.0 * float(mx.mean(mx.argmax(model(Xva), axis=1) == Yva))
        if acc > best_acc:
            best_acc, best_ep, patience = acc, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            patience += 1
        if ep % 5 == 0 or ep == 1:
            log.info("fold=%d ep=%02d loss=%.4f acc=%.1f%% ref=%.1f%% best=%.1f%%@%d",
                     fold + 1, ep, tot / n, acc, ref, best_acc, best_ep)
        if patience >= 8:
            log.info("fold=%d early stop at ep=%02d, restoring ep=%02d", fold + 1, ep, best_ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    final = 100.0 * float(mx.mean(mx.argmax(model(Xva), axis=1) == Yva))
    pred = np.array(mx.argmax(model(Xva), axis=1))
    slug_pass = 100.0 * float(((pred != K - 1) & (yva == K - 1)).sum()) / max(1, (yva == K - 1).sum())
    summary.append((fold + 1, best_ep, final, ref, slug_pass))

print()
print("| fold | best ep | val acc % | centroid % | slugs accepted % |")
print("|------|---------|-----------|------------|------------------|")
for f, e, a, r, s in summary:
    print(f"| {f:4d} | {e:7d} | {a:9.2f} | {r:10.2f} | {s:16.2f} |")
accs = np.array([s[2] for s in summary])
print(f"mean acc {accs.mean():.2f} +- {accs.std():.2f} %   ({time.time() - t_start:.1f} s)")
