#!/usr/bin/env python
# Blitz chess: will the player to move lose on time ("flag") before the game ends?
# Synthetic positions from online 3+2 / 5+0 games. 4-fold cross-validation,
# compiled Lion step, and a hand-written softplus with its own VJP.
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

np.random.seed(7)
N = 6000
clock_s = np.random.gamma(2.0, 25.0, N)            # seconds left for the side to move
opp_clock_s = np.random.gamma(2.0, 25.0, N)
increment = np.random.choice([0.0, 2.0], N)
move_no = np.random.randint(10, 90, N).astype(float)
complexity = np.random.beta(2, 3, N)                # engine-estimated branching difficulty
rating_diff = np.random.normal(0, 180, N)
material = np.random.randint(-6, 7, N).astype(float)
moves_left = np.maximum(5.0, 60 - 0.45 * move_no + 20 * complexity + np.random.normal(0, 6, N))
secs_needed = moves_left * (1.1 + 3.0 * complexity) - increment * moves_left
z = (secs_needed - clock_s) / 12.0 - 0.002 * rating_diff + 0.04 * (opp_clock_s - clock_s) / 10.0
p_flag = 1.0 / (1.0 + np.exp(-z))
y = (np.random.rand(N) < p_flag).astype(np.float32)
X = np.stack([np.log1p(clock_s), np.log1p(opp_clock_s), increment, move_no / 50,
              complexity, rating_diff / 200, material / 3], 1).astype(np.float32)


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, 0.0)


@softplus.vjp
def softplus_vjp(x, cotangent, output):
    return cotangent * mx.sigmoid(x)


class FlagNet(nn.Module):
    def __init__(self, d=7, h=32):
        super().__init__()
        self.a = nn.Linear(d, h)
        self.b = nn.Linear(h, h)
        self.head = nn.Linear(h, 1)

    def __call__(self, x):
        x = softplus(self.a(x))
        x = softplus(self.b(x))
        return self.head(x).squeeze(-1)


def bce(model, x, t):
    return nn.losses.binary_cross_entropy(model(x), t, with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def bar(i, total, width=24):
    k = int(width * i / total)
    return "|" + "#" * k + " " * (width - k) + "|"


folds = np.array_split(np.random.permutation(N), 4)
EPOCHS, BS = 20, 100
summary = []
t0 = time.time()
for f, val_idx in enumerate(folds):
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != f])
    mx.random.seed(100 + f)
    model = FlagNet()
    opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    def step(x, t):
        loss, g = nn.value_and_grad(model, bce)(model, x, t)
        opt.update(model, g)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)

    if f == 0:
        _, g0 = nn.value_and_grad(model, bce)(model, mx.array(X[tr_idx[:256]]), mx.array(y[tr_idx[:256]]))
        norms = {k: round(float(mx.linalg.norm(v).item()), 4)
                 for k, v in tree_flatten(g0)}
        print("grad-audit fold0:", " ".join(f"{k}={v}" for k, v in norms.items()))

    xv, yv = mx.array(X[val_idx]), y[val_idx]
    base_ll = -np.mean(yv * np.log(y[tr_idx].mean()) + (1 - yv) * np.log(1 - y[tr_idx].mean()))
    n_batches = len(tr_idx) // BS
    for ep in range(1, EPOCHS + 1):
        perm = np.random.permutation(tr_idx)
        tot = 0.0
        for b in range(n_batches):
            ib = perm[b * BS:(b + 1) * BS]
            loss = step(mx.array(X[ib]), mx.array(y[ib]))
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        logits = model(xv)
        vll = nn.losses.binary_cross_entropy(logits, mx.array(yv), with_logits=True).item()
        a = auc(np.array(logits), yv)
        sys.stdout.write(f"fold {f + 1}/4 ep {ep:2d}/{EPOCHS} {bar(ep, EPOCHS)} "
                         f"{n_batches}/{n_batches} [loss={tot / n_batches:.4f}, val_ll={vll:.4f}, "
                         f"auc={a:.3f}, prior_ll={base_ll:.4f}, {time.time() - t0:.1f}s]\n")
    summary.append((vll, a))

vl = np.array(summary)
print(f"CV  val_ll {vl[:, 0].mean():.4f} +- {vl[:, 0].std():.4f}   auc {vl[:, 1].mean():.3f} +- {vl[:, 1].std():.3f}")
