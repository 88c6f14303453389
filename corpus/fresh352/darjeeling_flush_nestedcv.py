"""Tea auction house: will a first-flush lot be accepted by the tasting panel?

Nested cross-validation: 3 outer folds estimate the accuracy of the whole
procedure; inside each, 2 inner folds pick the L2 strength. Every run is
early-stopped on its own held-out slice and the best weights are put back
before scoring. Output is an indented tree, one node per run.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


def make_lots(n, rng):
    altitude = rng.uniform(600, 2200, n)          # garden altitude m
    days = rng.uniform(0, 40, n)                  # days since flush opened
    wither = rng.normal(16, 3, n)                 # withering hours
    oxid = rng.uniform(5, 35, n)                  # oxidation %
    moisture = rng.normal(3.5, 0.6, n)            # final moisture %
    tips = rng.beta(3, 5, n)                      # share of silver tips
    rain = rng.gamma(2.0, 8.0, n)                 # mm rain in plucking week
    z = (1.6 * (altitude - 1400) / 500 - 0.06 * days - 0.18 * (wither - 16) ** 2 / 4
         - 0.05 * np.abs(oxid - 18) + 2.5 * tips - 1.2 * np.maximum(moisture - 4.0, 0)
         - 0.02 * rain + 0.9)
    accepted = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    X = np.stack([altitude, days, wither, oxid, moisture, tips, rain], 1).astype(np.float32)
    return X, accepted


class Taster(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)


def penalised_loss(model, x, y, l2):
    bce = nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")
    sq = sum((p ** 2).sum() for k, p in _weights(model))
    return bce + l2 * sq


def _weights(model):
    from mlx.utils import tree_flatten
    return [(k, v) for k, v in tree_flatten(model.trainable_parameters()) if k.endswith("weight")]


def scores(model, x, y):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean").item()
    acc = ((logits > 0).astype(mx.float32) == y).astype(mx.float32).mean().item()
    return bce, acc


def fit(X, y, l2, seed, patience=5, max_epochs=30):
    """Train with early stopping on a 20% slice; return model with best weights."""
    r = np.random.default_rng(seed)
    perm = r.permutation(len(X))
    cut = int(0.8 * len(X))
    tr, es = perm[:cut], perm[cut:]
    mu, sd = X[tr].mean(0), X[tr].std(0)
    norm = lambda A: mx.array((A - mu) / sd)
    xtr, ytr, xes, yes = norm(X[tr]), mx.array(y[tr]), norm(X[es]), mx.array(y[es])

    mx.random.seed(seed)
    model = Taster()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=2e-3)
    step = nn.value_and_grad(model, penalised_loss)
    best, best_ep, best_params, waited = math.inf, 0, None, 0
    curve = []
    for ep in range(1, max_epochs + 1):
        order = r.permutation(len(tr))
        for s in range(0, len(order), 64):
            idx = mx.array(order[s:s + 64])
            loss, g = step(model, xtr[idx], ytr[idx], l2)
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
        es_bce, _ = scores(model, xes, yes)
        curve.append(es_bce)
        if es_bce < best - 1e-4:
            best, best_ep, waited = es_bce, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            waited += 1
            if waited >= patience:
                break
    last_bce = curve[-1]
    model.update(best_params)
    mx.eval(model.parameters())
    return model, norm, {"epochs": ep, "best_ep": best_ep, "best_es": best, "last_es": last_bce}


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    X, y = make_lots(2400, rng)
    grid = [0.0, 1e-3, 1e-2]
    outer = np.array_split(np.random.default_rng(1).permutation(len(X)), 3)
    prior = y.mean()
    prior_bce = -(prior * math.log(prior) + (1 - prior) * math.log(1 - prior))
    print(f"lots={len(X)}  accepted={prior:.1%}  prior log-loss={prior_bce:.4f}  "
          f"majority acc={max(prior, 1 - prior):.3f}")
    outer_acc, outer_bce = [], []
    for k in range(3):
        test_idx = outer[k]
        train_idx = np.concatenate([outer[j] for j in range(3) if j != k])
        Xo, yo = X[train_idx], y[train_idx]
        print(f"├─ outer fold {k + 1}  (train {len(Xo)}, test {len(test_idx)})")
        inner = np.array_split(np.random.default_rng(10 + k).permutation(len(Xo)), 2)
        mean_inner = {}
        for l2 in grid:
            vals = []
            for i in range(2):
                tr_i, va_i = inner[1 - i], inner[i]
                m, norm, info = fit(Xo[tr_i], yo[tr_i], l2, seed=1000 * k + 10 * i + grid.index(l2))
                bce, acc = scores(m, norm(Xo[va_i]), mx.array(yo[va_i]))
                vals.append(bce)
                print(f"│   ├─ l2={l2:<6g} inner {i + 1}: stop@{info['epochs']:>2} best@{info['best_ep']:>2} "
                      f"es_bce {info['best_es']:.4f} (last {info['last_es']:.4f})  "
                      f"val_bce {bce:.4f}  val_acc {acc:.3f}")
            mean_inner[l2] = float(np.mean(vals))
        pick = min(mean_inner, key=mean_inner.get)
        print(f"│   ├─ inner means: " + ", ".join(f"{g:g}->{v:.4f}" for g, v in mean_inner.items())
              + f"  => l2={pick:g}")
        m, norm, info = fit(Xo, yo, pick, seed=77 + k)
        bce, acc = scores(m, norm(X[test_idx]), mx.array(y[test_idx]))
        outer_acc.append(acc)
        outer_bce.append(bce)
        print(f"│   └─ refit l2={pick:g}: stop@{info['epochs']} best@{info['best_ep']}  "
              f"test_bce {bce:.4f}  test_acc {acc:.3f}")
    print(f"└─ nested-cv estimate: acc {np.mean(outer_acc):.3f} ± {np.std(outer_acc):.3f}  "
          f"log-loss {np.mean(outer_bce):.4f} (prior {prior_bce:.4f})  "
          f"[{time.perf_counter() - t0:.1f}s]")


if __name__ == "__main__":
    main()
