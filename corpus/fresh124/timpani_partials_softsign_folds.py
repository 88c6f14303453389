# Timpani tuning helper: which of 8 target notes is the kettle tuned to?
# Input: a 64-bin log-frequency magnitude spectrum of one stroke.  A timpani head rings with
# inharmonic partials near 1, 1.5, 1.98, 2.44 x the principal tone; the pedal leaves the head
# a little off pitch (up to +-45 cents) and the hall adds noise.
# 3-fold cross validation, compiled SGD step, conv net with a softsign whose backward pass
# we write by hand.
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NOTES = ["D2", "E2", "F2", "G2", "A2", "B2", "C3", "D3"]
SEMIS = mx.array([0, 2, 3, 5, 7, 9, 10, 12], dtype=mx.float32)   # above D2
BINS = 64
PARTIALS = mx.array([1.0, 1.5, 1.98, 2.44])
PART_AMP = mx.array([1.0, 0.7, 0.45, 0.3])


def strokes(n, seed):
    mx.random.seed(seed)
    y = mx.random.randint(0, 8, (n,))
    cents = 45.0 * (2 * mx.random.uniform(shape=(n,)) - 1)
    # bin axis: log2 frequency from D2 (0) over 2.6 octaves, quarter-tone-ish resolution
    f0_oct = (SEMIS[y] + cents / 100.0) / 12.0                       # (n,)
    bins_oct = mx.arange(BINS, dtype=mx.float32) * (2.6 / BINS)      # (BINS,)
    ratio = PARTIALS[None, :] * (1 + 0.02 * mx.random.normal((n, 4)))  # head inharmonicity varies
    part_oct = f0_oct[:, None] + mx.log2(ratio)                       # (n, 4)
    amp = PART_AMP[None, :] * (0.3 + 1.2 * mx.random.uniform(shape=(n, 4)))
    # a soft mallet often barely excites the principal tone
    amp = amp * mx.where(mx.arange(4)[None, :] == 0, (mx.random.uniform(shape=(n, 1)) > 0.35), 1.0)
    width = 0.04
    spec = (amp[:, :, None] * mx.exp(-0.5 * ((bins_oct[None, None, :] - part_oct[:, :, None]) / width) ** 2)).sum(1)
    spec = spec + 0.45 * mx.abs(mx.random.normal((n, BINS)))
    spec = mx.log1p(8.0 * spec)
    return spec[:, :, None], y


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


class KettleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(12, 16, kernel_size=5, padding=2, stride=2)
        self.head = nn.Linear(16 * 32, 8)

    def __call__(self, x):
        h = softsign(self.c1(x))
        h = softsign(self.c2(h))
        return self.head(h.reshape(h.shape[0], -1))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


# custom VJP audit against autodiff of the same formula
z = mx.linspace(-3, 3, 13)
g_custom = mx.grad(lambda v: softsign(v).sum())(z)
g_auto = mx.grad(lambda v: (v / (1 + mx.abs(v))).sum())(z)
print(f"vjp check  max|custom-auto| = {mx.max(mx.abs(g_custom - g_auto)).item():.2e}")

X, Y = strokes(1800, seed=11)
mx.eval(X, Y)
folds = mx.arange(X.shape[0]) % 3
EPOCHS, BS = 7, 64
t0 = time.time()
fold_err = []
print("| fold | epoch | xent   | train err% | val err% | chance% |")
print("|------|-------|--------|------------|----------|---------|")
for k in range(3):
    mask_np = [int(v) != k for v in folds.tolist()]
    tr_idx = mx.array([i for i, m in enumerate(mask_np) if m])
    va_idx = mx.array([i for i, m in enumerate(mask_np) if not m])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]

    mx.random.seed(100 + k)
    model = KettleNet()
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, xent)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    if k == 0:
        _, g0 = vg(model, xtr[:BS], ytr[:BS])
        flat = tree_flatten(g0)
        print(f"grad audit: {len(flat)} tensors, min |g| norm = "
              f"{min(mx.linalg.norm(g.reshape(-1)).item() for _, g in flat):.3e}")

    n = xtr.shape[0]
    for ep in range(EPOCHS):
        perm = mx.random.permutation(n)
        tot, cnt = 0.0, 0
        for b in range(0, n - BS + 1, BS):
            idx = perm[b:b + BS]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            cnt += 1
        tr_err = 100.0 * mx.mean(mx.argmax(model(xtr), -1) != ytr).item()
        va_err = 100.0 * mx.mean(mx.argmax(model(xva), -1) != yva).item()
        print(f"| {k:4d} | {ep:5d} | {tot / cnt:.4f} | {tr_err:10.2f} | {va_err:8.2f} | {100 * 7 / 8:7.1f} |")
    fold_err.append(va_err)

print(f"cv val err% per fold: {', '.join(f'{e:.2f}' for e in fold_err)}  "
      f"mean {sum(fold_err) / 3:.2f}  ({time.time() - t0:.1f}s)")
