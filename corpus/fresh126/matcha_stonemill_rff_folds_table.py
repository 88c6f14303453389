# Tea factory: grade stone-milled matcha lots (ceremonial / premium / culinary /
# ingredient) from mill-room readings. Fixed random Fourier feature layer
# (frozen on purpose), trainable head, 4-fold cross-validation, compiled step.
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["ceremonial", "premium", "culinary", "ingredient"]
rng = np.random.default_rng(88)


def mill_log(n):
    rpm = rng.uniform(28, 70, n)             # granite stone speed
    feed = rng.uniform(20, 60, n)            # tencha feed, g/h
    moist = rng.uniform(2.5, 6.5, n)         # leaf moisture, %
    stone_t = rng.uniform(22, 41, n)         # stone surface temperature, C
    shade = rng.uniform(0, 35, n)            # shading days before harvest
    flush = rng.integers(1, 4, n)            # 1st / 2nd / 3rd flush
    q = (0.09 * shade - 0.04 * (rpm - 35) ** 2 / 10 - 0.05 * (feed - 30)
         - 0.12 * np.maximum(stone_t - 32, 0) ** 1.5 - 0.6 * (moist - 4) ** 2
         - 0.9 * (flush - 1) + 0.5 * np.sin(rpm / 7) * (shade > 20))
    q = q + rng.logistic(0, 0.35, n)
    cuts = np.quantile(q, [0.75, 0.5, 0.25])
    y = (q < cuts[0]).astype(int) + (q < cuts[1]) + (q < cuts[2])
    x = np.stack([rpm, feed, moist, stone_t, shade, flush], 1)
    return x.astype(np.float32), y.astype(np.int32)


X, Y = mill_log(6000)
X = (X - X.mean(0)) / X.std(0)
X, Y = mx.array(X), mx.array(Y)
N = X.shape[0]
FOLDS = 4
fold_of = np.arange(N) % FOLDS
rng.shuffle(fold_of)


class RffGrader(nn.Module):
    def __init__(self, d_in=6, n_feat=128, hidden=32):
        super().__init__()
        self.proj = nn.Linear(d_in, n_feat)          # fixed random features
        self.proj.weight = mx.random.normal((n_feat, d_in)) * 0.9
        self.proj.bias = mx.random.uniform(0, 2 * np.pi, (n_feat,))
        self.head1 = nn.Linear(n_feat, hidden)
        self.head2 = nn.Linear(hidden, 4)

    def __call__(self, x):
        z = mx.cos(self.proj(x)) * (2.0 / self.proj.weight.shape[0]) ** 0.5
        return self.head2(nn.relu(self.head1(z * 4.0)))


def xent(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


def macro_f1(pred, y):
    f = []
    for c in range(4):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100 * sum(f) / 4


EPOCHS, BATCH = 24, 120
print(f"{'fold':>4} | {'epoch':>5} | {'xent':>7} | {'val xent':>8} | {'acc %':>6} | {'mF1 %':>6}")
print("-" * 52)
summary = []
for k in range(FOLDS):
    mx.random.seed(100 + k)
    model = RffGrader()
    model.proj.freeze()
    mx.eval(model.parameters())
    frozen_before = mx.array(model.proj.weight)
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=2e-3)

    tr = mx.array(np.where(fold_of != k)[0])
    va = mx.array(np.where(fold_of == k)[0])
    Xtr, Ytr, Xva, Yva = X[tr], Y[tr], X[va], Y[va]

    if k == 0:
        _, g = nn.value_and_grad(model, xent)(model, Xtr[:BATCH], Ytr[:BATCH])
        flat = tree_flatten(g)
        print(f"   grad check: {len(flat)} trainable tensors, "
              f"min |g|max = {min(float(mx.abs(v).max()) for _, v in flat):.2e}, "
              f"proj in grads: {any(n.startswith('proj') for n, _ in flat)}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, xent)(model, xb, yb)
        opt.update(model, grads)
        return loss

    ntr = Xtr.shape[0]
    for ep in range(1, EPOCHS + 1):
        perm = mx.random.permutation(ntr)
        tot = 0.0
        nb = ntr // BATCH
        for b in range(nb):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
        if ep == 1 or ep % 6 == 0:
            logits = model(Xva)
            vx = mx.mean(nn.losses.cross_entropy(logits, Yva))
            pred = mx.argmax(logits, axis=1)
            acc = 100 * mx.mean(pred == Yva)
            mx.eval(vx, acc)
            f1 = macro_f1(np.array(pred), np.array(Yva))
            print(f"{k + 1:>4} | {ep:>5} | {tot / nb:7.4f} | {vx.item():8.4f} | {acc.item():6.2f} | {f1:6.2f}")
    moved = float(mx.abs(model.proj.weight - frozen_before).max())
    summary.append((acc.item(), f1, vx.item(), moved))
    print("-" * 52)

maj = 100 * max(float(mx.mean(Y == c)) for c in range(4))
accs = np.array([s[0] for s in summary])
print("\nfold summary (projection layer frozen; max |dW_proj| should be 0)")
print(f"{'fold':>4} | {'acc %':>6} | {'mF1 %':>6} | {'val xent':>8} | {'max|dW_proj|':>12}")
for i, (a, f, v, mv) in enumerate(summary):
    print(f"{i + 1:>4} | {a:6.2f} | {f:6.2f} | {v:8.4f} | {mv:12.1e}")
print(f"mean acc {accs.mean():.2f}% +/- {accs.std():.2f}  (majority-grade baseline {maj:.2f}%)")
