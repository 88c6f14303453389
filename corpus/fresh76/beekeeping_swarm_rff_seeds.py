"""Swarm-risk model for apiary inspection records.

Predict whether a colony swarms within 10 days of an inspection.  The first
layer is a fixed random-Fourier-feature map (frozen on purpose); only the head
trains.  Three seeds are trained one after another, each from scratch, and a
Markdown summary table is printed at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["queen_cells", "brood_frames", "weight_gain_kg", "days_since_split",
            "forage_index", "max_temp_c", "hive_age_yr"]


def make_inspections(n, rng):
    qc = rng.poisson(1.2, n).astype(np.float32)
    brood = rng.uniform(2, 10, n).astype(np.float32)
    gain = rng.normal(0.8, 0.7, n).astype(np.float32)
    split = rng.uniform(0, 400, n).astype(np.float32)
    forage = rng.beta(2, 2, n).astype(np.float32)
    temp = rng.normal(22, 5, n).astype(np.float32)
    age = rng.integers(0, 6, n).astype(np.float32)
    z = (1.3 * np.minimum(qc, 4) + 0.45 * (brood - 6) + 0.9 * gain
         + 1.2 * np.tanh((split - 150) / 80) + 2.0 * (forage - 0.5) * (temp > 20)
         - 0.25 * age - 2.2)
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(size=n) < p).astype(np.int32)
    X = np.stack([qc, brood, gain, split, forage, temp, age], 1)
    return X, y


class FourierMap(nn.Module):
    def __init__(self, d_in, d_out, scale):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.proj.weight = mx.random.normal((d_out, d_in)) * scale
        self.proj.bias = mx.random.uniform(0, 2 * math.pi, (d_out,))

    def __call__(self, x):
        return mx.cos(self.proj(x)) * math.sqrt(2.0 / self.proj.weight.shape[0])


class SwarmNet(nn.Module):
    def __init__(self, d_in, n_feat=256):
        super().__init__()
        self.rff = FourierMap(d_in, n_feat, scale=0.7)
        self.h = nn.Linear(n_feat, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.relu(self.h(self.rff(x)) * 4.0)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y.astype(mx.float32),
                                          with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate(model, X, y):
    logits = model(X)
    ce = loss_fn(model, X, y).item()
    p = np.array(mx.sigmoid(logits))
    yn = np.array(y)
    brier = float(np.mean((p - yn) ** 2))
    return ce, brier, auc(p, yn)


def train_one_seed(seed, Xtr, ytr, Xva, yva, epochs=12, bs=64):
    mx.random.seed(seed)
    model = SwarmNet(Xtr.shape[1])
    model.rff.freeze()
    mx.eval(model.parameters())
    frozen0 = np.array(model.rff.proj.weight)
    opt = optim.Lion(learning_rate=optim.cosine_decay(3e-4, epochs * (len(ytr) // bs)),
                     weight_decay=0.01)
    step = nn.value_and_grad(model, loss_fn)

    # gradient check at the first batch: every trainable leaf must get a signal
    _, g = step(model, Xtr[:bs], ytr[:bs])
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"  seed {seed}: {len(leaves)} trainable leaves, zero-grad leaves: {zero or 'none'}")
    ce0, br0, auc0 = evaluate(model, Xva, yva)
    print(f"  seed {seed}: untrained  val_ce {ce0:.4f}  brier {br0:.4f}  auc {100*auc0:.1f}%")

    perm_rng = np.random.default_rng(seed)
    n = len(ytr)
    for ep in range(1, epochs + 1):
        perm = mx.array(perm_rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if ep in (1, 3, 6, 9, 12):
            ce, br, a = evaluate(model, Xva, yva)
            print(f"  seed {seed}: epoch {ep:2d}  train_ce {tot/cnt:.4f}  val_ce {ce:.4f}"
                  f"  brier {br:.4f}  auc {100*a:.1f}%")
    drift = float(np.abs(np.array(model.rff.proj.weight) - frozen0).max())
    return evaluate(model, Xva, yva), drift


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    X, y = make_inspections(9000, rng)
    mu, sd = X[:7500].mean(0), X[:7500].std(0)
    X = (X - mu) / sd
    Xtr, ytr = mx.array(X[:7500]), mx.array(y[:7500])
    Xva, yva = mx.array(X[7500:]), mx.array(y[7500:])
    base = y[:7500].mean()
    base_ce = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    print(f"apiary: {len(y)} inspections, swarm rate {100*y.mean():.1f}%, "
          f"features {', '.join(FEATURES)}")
    print(f"base-rate predictor: val_ce {base_ce:.4f}  brier {base*(1-base):.4f}  auc 50.0%")
    rows = []
    for seed in (1, 2, 3):
        print(f"--- seed {seed} (fresh model, frozen Fourier map) ---")
        (ce, br, a), drift = train_one_seed(seed, Xtr, ytr, Xva, yva)
        rows.append((seed, ce, br, a, drift))
    print()
    print("| seed | val_ce | brier | auc % | frozen-map max change |")
    print("|-----:|-------:|------:|------:|----------------------:|")
    for s, ce, br, a, d in rows:
        print(f"| {s} | {ce:.4f} | {br:.4f} | {100*a:.1f} | {d:.1e} |")
    aucs = np.array([r[3] for r in rows]) * 100
    print(f"| mean | {np.mean([r[1] for r in rows]):.4f} | {np.mean([r[2] for r in rows]):.4f} "
          f"| {aucs.mean():.1f} +- {aucs.std():.1f} | |")
    print(f"done in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
