"""Precinct tally: predict which of 12 candidates won a precinct from its 15 ballots.

The ballot-token embedding table is a fixed random code book (frozen on purpose);
only the pooling MLP head trains.  Lion with a linear warm-up that starts at lr=0.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_CAND = 12
N_BALLOTS = 15
rng = np.random.default_rng(2024)


def make_precincts(n):
    """Ballots drawn from a Dirichlet preference per precinct; ties resampled."""
    xs, ys = [], []
    while len(xs) < n:
        pref = rng.dirichlet(np.full(N_CAND, 0.6))
        b = rng.choice(N_CAND, size=N_BALLOTS, p=pref)
        counts = np.bincount(b, minlength=N_CAND)
        top = np.flatnonzero(counts == counts.max())
        if len(top) != 1:
            continue
        xs.append(b)
        ys.append(top[0])
    return np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int32)


class TallyNet(nn.Module):
    def __init__(self, dim=24, hidden=96):
        super().__init__()
        self.codebook = nn.Embedding(N_CAND, dim)
        self.l1 = nn.Linear(dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, N_CAND)

    def __call__(self, ballots):
        e = self.codebook(ballots).mean(axis=1)      # (B, dim) = codebook^T @ vote shares
        h = nn.relu(self.l1(e * 4.0))
        h = nn.relu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def miscount_rate(model, x, y):
    wrong = 0
    for i in range(0, len(x), 500):
        pred = mx.argmax(model(mx.array(x[i:i + 500])), axis=-1)
        wrong += int((pred != mx.array(y[i:i + 500])).sum().item())
    return 100.0 * wrong / len(x)


def main():
    mx.random.seed(7)
    xtr, ytr = make_precincts(12000)
    xte, yte = make_precincts(2000)
    plurality_share = np.mean([np.bincount(b, minlength=N_CAND).max() / N_BALLOTS for b in xte])
    print(f"precincts train={len(xtr)} test={len(xte)}  mean winner share={plurality_share:.2f}  "
          f"chance miscount={100 * (1 - 1 / N_CAND):.1f}%")

    model = TallyNet()
    model.codebook.freeze()                  # fixed code book: not trained
    frozen_before = np.array(model.codebook.weight)

    warm, total = 150, 1800
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, warm), optim.cosine_decay(3e-4, total - warm, 1e-5)],
        [warm])
    opt = optim.Lion(learning_rate=lr, weight_decay=0.05)
    step_fn = nn.value_and_grad(model, loss_fn)

    ema, beta = 0.0, 0.98
    batch = 128
    t0 = time.time()
    perm = rng.permutation(len(xtr))
    pos = 0
    for step in range(1, total + 1):
        if pos + batch > len(perm):
            perm, pos = rng.permutation(len(xtr)), 0
        idx = perm[pos:pos + batch]
        pos += batch
        loss, grads = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max().item()) == 0.0]
            print(f"step 1: {len(leaves)} trainable leaves, zero-gradient leaves: {zero or 'none'} "
                  f"(codebook frozen: {'codebook.weight' not in dict(leaves)})")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema = beta * ema + (1 - beta) * loss.item()
        if step % 150 == 0:
            model.eval()
            mc = miscount_rate(model, xte, yte)
            model.train()
            print(f"[tally] step {step:4d} | ce(ema, debiased) {ema / (1 - beta ** step):.3f} "
                  f"| test miscount {mc:5.1f}% | lr {float(opt.learning_rate.item()):.2e} "
                  f"| {time.time() - t0:5.1f}s")

    assert np.array_equal(frozen_before, np.array(model.codebook.weight)), "code book moved"
    print(f"done: code book unchanged, final test miscount {miscount_rate(model, xte, yte):.1f}% "
          f"(lower is better)")


if __name__ == "__main__":
    main()
