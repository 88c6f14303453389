"""Lifeguard tower log: will a rip current be flagged in the next hour?

Features: wave height, period, tide phase (sin/cos), onshore wind, sandbar depth,
plus a beach id (12 beaches). The beach id goes through a FIXED random code table
(nn.Embedding, frozen on purpose: shared with the tower app, must not change).
4-fold cross-validation, each fold from scratch, early stopping that restores the
best weights. Reported metric: Brier score x 100 (lower is better) and hit rate %.
"""
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_BEACH = 12


def simulate(n, rng):
    beach = rng.integers(0, N_BEACH, n)
    beach_risk = np.array([-1.2, -0.6, 0.3, 1.1, -0.2, 0.8, 1.4, -0.9, 0.0, 0.5, -0.4, 0.9])
    wave = rng.gamma(2.0, 0.6, n)
    period = rng.uniform(5, 14, n)
    tide = rng.uniform(0, 2 * np.pi, n)
    wind = rng.normal(0, 1, n)
    bar = rng.uniform(0.5, 3.0, n)
    logit = (1.3 * wave + 0.15 * (period - 9) - 0.9 * np.cos(tide) + 0.4 * wind
             - 0.8 * bar + beach_risk[beach] - 0.3)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    X = np.stack([wave, (period - 9) / 3, np.sin(tide), np.cos(tide), wind, bar - 1.75], 1)
    return X.astype(np.float32), beach.astype(np.int32), y


class RipNet(nn.Module):
    def __init__(self, d_num, d_code=6, width=32):
        super().__init__()
        self.codes = nn.Embedding(N_BEACH, d_code)
        self.l1 = nn.Linear(d_num + d_code, width)
        self.l2 = nn.Linear(width, 1)

    def __call__(self, x, b):
        h = mx.concatenate([x, self.codes(b)], axis=-1)
        return self.l2(nn.tanh(self.l1(h))).squeeze(-1)


def bce(model, x, b, y):
    return nn.losses.binary_cross_entropy(model(x, b), y, with_logits=True, reduction="mean")


def evaluate(model, x, b, y):
    p = mx.sigmoid(model(mx.array(x), mx.array(b)))
    p = np.array(p)
    brier = np.mean((p - y) ** 2) * 100
    hit = np.mean((p > 0.5) == (y > 0.5)) * 100
    return brier, hit


def train_fold(k, Xtr, btr, ytr, Xva, bva, yva, workdir, code_seed):
    mx.random.seed(100 + k)
    model = RipNet(Xtr.shape[1])
    # the tower app's fixed code book, identical for every fold
    model.codes.weight = mx.random.normal((N_BEACH, 6), key=mx.random.key(code_seed))
    model.codes.freeze()
    frozen_before = np.array(model.codes.weight)

    opt = optim.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, bce)
    if k == 0:
        _, g = vg(model, mx.array(Xtr[:128]), mx.array(btr[:128]), mx.array(ytr[:128]))
        names = [n for n, _ in tree_flatten(g)]
        assert all(float(mx.abs(v).sum()) > 0 for _, v in tree_flatten(g)), names
        assert not any(n.startswith("codes") for n in names)

    ckpt = os.path.join(workdir, f"fold{k}_best.safetensors")
    best, best_epoch, patience, bad = float("inf"), -1, 4, 0
    rng = np.random.default_rng(k)
    for epoch in range(40):
        order = rng.permutation(len(ytr))
        for s in range(0, len(order) - 63, 64):
            i = order[s:s + 64]
            loss, g = vg(model, mx.array(Xtr[i]), mx.array(btr[i]), mx.array(ytr[i]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
        brier, _ = evaluate(model, Xva, bva, yva)
        if brier < best - 0.01:
            best, best_epoch, bad = brier, epoch, 0
            model.save_weights(ckpt)
        else:
            bad += 1
            if bad >= patience:
                break
    model.load_weights(ckpt)
    assert np.array_equal(frozen_before, np.array(model.codes.weight))
    brier, hit = evaluate(model, Xva, bva, yva)
    return brier, hit, best_epoch, epoch


def main():
    rng = np.random.default_rng(2024)
    X, b, y = simulate(8000, rng)
    folds = np.array_split(rng.permutation(len(y)), 4)
    base = np.mean((y.mean() - y) ** 2) * 100
    print(f"rip-current log: {len(y)} tower-hours, {y.mean()*100:.1f}% flagged, "
          f"climatology Brier x100 = {base:.2f}")
    print(f"{'fold':>4} | {'brier x100':>10} | {'hit %':>6} | {'best ep':>7} | {'stopped':>7}")
    print("-" * 48)
    scores = []
    with tempfile.TemporaryDirectory() as wd:
        for k in range(4):
            va = folds[k]
            tr = np.concatenate([folds[j] for j in range(4) if j != k])
            brier, hit, be, last = train_fold(k, X[tr], b[tr], y[tr], X[va], b[va], y[va], wd, 7)
            scores.append((brier, hit))
            print(f"{k:>4} | {brier:>10.2f} | {hit:>6.1f} | {be:>7d} | {last:>7d}")
    s = np.array(scores)
    print("-" * 48)
    print(f"mean | {s[:,0].mean():>10.2f} | {s[:,1].mean():>6.1f} |")


if __name__ == "__main__":
    main()
