"""Hail size category (none / pea / golf-ball) from 8 radar features.
bf16 compute copy, float32 master weights; an LR range test first (blows up by
design), then the real run from fresh weights at a tenth of the best sweep lr."""
import sys
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten


def make_data(n, rng):
    X = rng.normal(size=(n, 8)).astype(np.float32)   # zdr, kdp, vil, echo top, cape, shear, fzl, mesh
    score = 1.2 * X[:, 2] + 0.9 * X[:, 7] - 0.6 * X[:, 6] + 0.5 * X[:, 4] * X[:, 5] + 0.4 * rng.normal(size=n)
    y = np.digitize(score, [0.3, 1.6]).astype(np.int32)
    return X, y


def build(seed):
    mx.random.seed(seed)
    return nn.Sequential(nn.Linear(8, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 3))


def loss_fn(model, x, y):
    logits = model(x.astype(mx.bfloat16)).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


class MixedTrainer:
    def __init__(self, seed, lr):
        self.master = build(seed)                 # float32 master weights
        self.compute = build(seed)                # bf16 working copy
        self.opt = optim.Adam(learning_rate=lr)
        self.vg = nn.value_and_grad(self.compute, loss_fn)
        self.sync()

    def sync(self):
        self.compute.update(tree_map(lambda p: p.astype(mx.bfloat16), self.master.parameters()))

    def grads(self, x, y):
        loss, g = self.vg(self.compute, x, y)
        return loss, tree_map(lambda a: a.astype(mx.float32), g)

    def step(self, x, y):
        loss, g = self.grads(x, y)
        self.opt.update(self.master, g)
        self.sync()
        mx.eval(loss, self.master.parameters(), self.opt.state, self.compute.parameters())
        return loss.item()


def accuracy(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=-1) == y).item() * 100


def main():
    rng = np.random.default_rng(3)
    X, y = make_data(9000, rng)
    Xv, yv = make_data(2000, rng)
    Xtr, ytr, Xva, yva = mx.array(X), mx.array(y), mx.array(Xv), mx.array(yv)
    print(f"hail cells: {len(X)} train / {len(Xv)} val, class shares "
          f"{np.bincount(y) / len(y) * 100}")

    # 1) LR range test: lr grows exponentially 1e-5 -> 10 over 150 steps
    lrs = np.geomspace(1e-5, 10.0, 150)
    tr = MixedTrainer(seed=7, lr=float(lrs[0]))
    smooth, best, best_lr, hist = 0.0, float("inf"), None, []
    for i, lr in enumerate(lrs):
        tr.opt.learning_rate = float(lr)
        idx = mx.array(rng.integers(0, len(X), 128))
        l = tr.step(Xtr[idx], ytr[idx])
        smooth = 0.9 * smooth + 0.1 * l
        sm = smooth / (1 - 0.9 ** (i + 1))
        hist.append(sm)
        if sm < best:
            best, best_lr = sm, float(lr)
        bar = "#" * (30 * (i + 1) // len(lrs))
        sys.stdout.write(f"\rlr finder [{bar:<30}] lr {lr:.1e} loss {sm:.3f}")
        sys.stdout.flush()
        if not math.isfinite(sm) or sm > 4 * best:
            break
    sys.stdout.write("\n")
    print(f"lr finder: stopped at step {i + 1}, smoothed loss {hist[-1]:.3f}; "
          f"min {best:.3f} at lr {best_lr:.1e}")
    lr = best_lr / 10
    del tr

    # 2) real run from fresh weights
    tr = MixedTrainer(seed=8, lr=lr)
    l0, g0 = tr.grads(Xtr[:128], ytr[:128])
    leaves = tree_flatten(g0)
    print(f"real run: lr {lr:.2e}, {len(leaves)} grad leaves, zero: "
          f"{[k for k, a in leaves if float(mx.abs(a).max()) == 0] or 'none'}")
    print(f"{'epoch':>5} {'train_ce':>9} {'val_ce':>8} {'val_acc':>8}")
    for ep in range(1, 9):
        perm = rng.permutation(len(X))
        tot, nb = 0.0, 0
        for i in range(0, len(X) - 127, 128):
            idx = mx.array(perm[i:i + 128])
            tot += tr.step(Xtr[idx], ytr[idx])
            nb += 1
        vce = loss_fn(tr.master, Xva, yva).item()
        print(f"{ep:>5} {tot / nb:>9.4f} {vce:>8.4f} {accuracy(tr.master, Xva, yva):>7.1f}%")
    drift = max(float(mx.abs(a.astype(mx.float32) - b).max())
                for (_, a), (_, b) in zip(tree_flatten(tr.compute.parameters()),
                                          tree_flatten(tr.master.parameters())))
    print(f"done: bf16 copy vs fp32 master max diff {drift:.2e} (rounding only)")


if __name__ == "__main__":
    main()
