"""Tram curve squeal level (quiet / squeal / screech) from wayside readings.

4-fold cross-validation, every fold from scratch.  The first layer is a fixed
random-Fourier-feature map (frozen on purpose, same for every fold); only the
head trains, with RMSprop written by hand over tree_map.  A progress bar is
redrawn in place with \\r during each fold.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

LEVELS = ["quiet", "squeal", "screech"]


def wayside_log(n, rng):
    radius = rng.uniform(18, 60, n)            # curve radius, m
    speed = rng.uniform(5, 30, n)              # km/h
    lube = rng.uniform(0, 1, n)                # flange lubricator fill
    humid = rng.uniform(20, 100, n)            # %
    wear = rng.uniform(0, 1, n)                # wheel wear index
    temp = rng.normal(12, 9, n)                # deg C
    load = rng.uniform(0.2, 1.0, n)            # passenger load
    # made-up latent: tight curves, speed and dry rails squeal; it peaks at
    # middling speed and cold dry mornings
    s = (2.2 * (40 / radius - 1) + 1.6 * np.sin(speed / 30 * np.pi) - 2.0 * lube
         - 0.02 * (humid - 60) + 1.1 * wear * (temp < 5) + 0.6 * load + rng.normal(0, 0.45, n))
    y = np.digitize(s, [0.3, 1.6])
    x = np.stack([radius, speed, lube, humid, wear, temp, load], 1).astype(np.float32)
    return x, y.astype(np.int32)


class SquealNet(nn.Module):
    def __init__(self, d_in, n_feat=96, hidden=48, n_out=3):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)
        self.head1 = nn.Linear(n_feat, hidden)
        self.head2 = nn.Linear(hidden, n_out)

    def __call__(self, x):
        z = mx.cos(self.rff(x)) * (2.0 / self.rff.weight.shape[0]) ** 0.5
        return self.head2(nn.relu(self.head1(z)))


def fixed_rff(model, seed, scale=0.8):
    r = np.random.default_rng(seed)
    w = r.normal(0, scale, model.rff.weight.shape).astype(np.float32)
    b = r.uniform(0, 2 * np.pi, model.rff.bias.shape).astype(np.float32)
    model.rff.weight = mx.array(w)
    model.rff.bias = mx.array(b)
    model.rff.freeze()


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class HandRMSprop:
    def __init__(self, lr=3e-3, alpha=0.95, eps=1e-8):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = None

    def apply(self, model, grads):
        if self.sq is None:
            self.sq = tree_map(mx.zeros_like, grads)
        self.sq = tree_map(lambda s, g: self.alpha * s + (1 - self.alpha) * g * g, self.sq, grads)
        params = model.trainable_parameters()
        new = tree_map(lambda p, g, s: p - self.lr * g / (mx.sqrt(s) + self.eps), params, grads, self.sq)
        model.update(new)
        return self.sq


def bar(done, total, width=30):
    k = int(width * done / total)
    return "[" + "#" * k + "." * (width - k) + "]"


def macro_f1(pred, y, k=3):
    f = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f.append(2 * tp / max(2 * tp + fp + fn, 1))
    return 100.0 * float(np.mean(f))


def run_fold(fold, xtr, ytr, xte, yte, epochs=14, bs=64, check=False):
    mx.random.seed(100 + fold)
    model = SquealNet(xtr.shape[1])
    fixed_rff(model, seed=7)
    mx.eval(model.parameters())
    rff_before = np.array(model.rff.weight)
    opt = HandRMSprop()
    vg = nn.value_and_grad(model, loss_fn)
    xtr_m, ytr_m = mx.array(xtr), mx.array(ytr)
    if check:
        _, g = vg(model, xtr_m[:bs], ytr_m[:bs])
        flat = tree_flatten(g)
        print("  gradient leaves: " + ", ".join(f"{k}={float(mx.abs(v).sum()):.3g}" for k, v in flat))
        print("  frozen: " + ", ".join(k for k, _ in tree_flatten(model.parameters()) if k.startswith("rff")))
    n = xtr.shape[0]
    nb = n // bs
    total = epochs * nb
    order = np.random.default_rng(fold)
    first = last = None
    t0 = time.perf_counter()
    for ep in range(epochs):
        perm = order.permutation(n)
        run = 0.0
        for b in range(nb):
            idx = mx.array(perm[b * bs:(b + 1) * bs])
            loss, g = vg(model, xtr_m[idx], ytr_m[idx])
            sq = opt.apply(model, g)
            mx.eval(model.parameters(), sq, loss)
            run += loss.item()
            done = ep * nb + b + 1
            if done % 25 == 0 or done == total:
                sys.stdout.write(f"\r  fold {fold} {bar(done, total)} {100 * done / total:5.1f}%  "
                                 f"epoch {ep + 1:2d}/{epochs}  ce {run / (b + 1):.3f}")
                sys.stdout.flush()
        if first is None:
            first = run / nb
        last = run / nb
    sys.stdout.write("\n")
    pred = np.array(mx.argmax(model(mx.array(xte)), axis=1))
    acc = 100.0 * float(np.mean(pred == yte))
    f1 = macro_f1(pred, yte)
    drift = float(np.abs(np.array(model.rff.weight) - rff_before).max())
    return dict(first=first, last=last, acc=acc, f1=f1, drift=drift, secs=time.perf_counter() - t0)


def main():
    rng = np.random.default_rng(2026)
    x, y = wayside_log(6000, rng)
    counts = np.bincount(y, minlength=3)
    print("tram squeal survey: %d passes, %s" % (len(y), ", ".join(
        f"{LEVELS[i]} {100 * c / len(y):.1f}%" for i, c in enumerate(counts))))
    print(f"majority-class accuracy: {100 * counts.max() / len(y):.1f}%")
    folds = np.array_split(rng.permutation(len(y)), 4)
    rows = []
    for k in range(4):
        te = folds[k]
        tr = np.concatenate([folds[j] for j in range(4) if j != k])
        mu, sd = x[tr].mean(0), x[tr].std(0)
        res = run_fold(k, (x[tr] - mu) / sd, y[tr], (x[te] - mu) / sd, y[te], check=(k == 0))
        rows.append(res)
    print()
    print(f"{'fold':>4} | {'train ce ep1':>12} | {'train ce last':>13} | {'held-out acc':>12} | {'macro F1':>8} | {'rff drift':>9} | {'secs':>5}")
    for k, r in enumerate(rows):
        print(f"{k:>4} | {r['first']:>12.4f} | {r['last']:>13.4f} | {r['acc']:>11.1f}% | {r['f1']:>7.1f}% | {r['drift']:>9.1e} | {r['secs']:>5.1f}")
    accs = np.array([r["acc"] for r in rows])
    print(f"cross-validated accuracy {accs.mean():.1f}% +/- {accs.std():.1f}")


if __name__ == "__main__":
    main()
