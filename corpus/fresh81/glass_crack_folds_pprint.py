"""Glass studio: predict whether an annealed piece cracks within a week.

Three cross-validation folds, each trained from scratch. Silent while training;
a pprint'ed summary dict per fold at the end.
"""
import time
from pprint import pprint

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def make_pieces(n, rng):
    wall_mm = rng.uniform(2, 25, n)
    soak_c = rng.uniform(440, 540, n)
    cool_rate = np.exp(rng.uniform(np.log(5), np.log(200), n))  # C per hour
    coe_mismatch = rng.gamma(2.0, 0.8, n)
    colour_layers = rng.integers(0, 5, n).astype(np.float64)
    kiln_load = rng.uniform(0.1, 1.0, n)
    stress = (0.03 * wall_mm ** 1.5 * np.log(cool_rate) / 3.0
              + 0.9 * coe_mismatch + 0.25 * colour_layers
              - 0.04 * (soak_c - 440) + 0.6 * kiln_load)
    logit = 1.6 * (stress - 2.2)
    p = 1 / (1 + np.exp(-logit))
    cracked = (rng.uniform(size=n) < p).astype(np.float32)
    X = np.stack([wall_mm, soak_c, np.log(cool_rate), coe_mismatch,
                  colour_layers, kiln_load], 1).astype(np.float32)
    return X, cracked, p


class CrackNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def scores(model, X, y):
    logits = model(X)
    p = mx.sigmoid(logits)
    ll = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    brier = mx.mean((p - y) ** 2)
    pred = p > 0.5
    cracked = y > 0.5
    missed = mx.sum(mx.logical_and(cracked, mx.logical_not(pred))) / mx.maximum(mx.sum(cracked), 1)
    mx.eval(ll, brier, missed)
    return ll.item(), brier.item(), 100.0 * missed.item()


def run_fold(k, Xtr, ytr, Xva, yva, epochs=10, batch=64):
    mx.random.seed(100 + k)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    xt = mx.array((Xtr - mu) / sd)
    yt = mx.array(ytr)
    xv = mx.array((Xva - mu) / sd)
    yv = mx.array(yva)
    model = CrackNet(xt.shape[1])
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=2e-3)
    vg = nn.value_and_grad(model, bce)
    before = scores(model, xv, yv)

    rng = np.random.default_rng(7 + k)
    n = xt.shape[0]
    steps = 0
    first_zero = None
    n_leaves = 0
    t0 = time.time()
    last = []
    for ep in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n - batch + 1, batch):
            idx = mx.array(order[s:s + batch])
            loss, grads = vg(model, xt[idx], yt[idx])
            if first_zero is None:
                flat = tree_flatten(grads)
                n_leaves = len(flat)
                first_zero = [name for name, g in flat if mx.all(g == 0).item()]
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            steps += 1
            last.append(loss.item())
            last = last[-100:]
    after = scores(model, xv, yv)
    return {
        "fold": k,
        "train_rows": int(n),
        "steps": steps,
        "grad_leaves": n_leaves,
        "zero_grad_leaves_step1": first_zero,
        "untrained": {"val_logloss": round(before[0], 4), "val_brier": round(before[1], 4),
                      "missed_cracks_pct": round(before[2], 1)},
        "trained": {"train_logloss_last100": round(float(np.mean(last)), 4),
                    "val_logloss": round(after[0], 4), "val_brier": round(after[1], 4),
                    "missed_cracks_pct": round(after[2], 1)},
        "seconds": round(time.time() - t0, 1),
    }


def main():
    rng = np.random.default_rng(2024)
    X, y, p_true = make_pieces(9000, rng)
    folds = np.array_split(rng.permutation(len(y)), 3)
    oracle = -np.mean(y * np.log(p_true) + (1 - y) * np.log(1 - p_true))
    print(f"glass pieces: {len(y)}, crack share {100 * y.mean():.1f}%, "
          f"oracle log-loss {oracle:.4f} (missed_cracks_pct: lower is better)")
    print("training 3 folds quietly ...")
    results = []
    for k in range(3):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(3) if j != k])
        results.append(run_fold(k, X[tr], y[tr], X[va], y[va]))
    for r in results:
        pprint(r, sort_dicts=False, width=100)
    mean_ll = np.mean([r["trained"]["val_logloss"] for r in results])
    mean_miss = np.mean([r["trained"]["missed_cracks_pct"] for r in results])
    print(f"mean over folds: val log-loss {mean_ll:.4f} vs oracle {oracle:.4f}; "
          f"missed cracks {mean_miss:.1f}%")


if __name__ == "__main__":
    main()
