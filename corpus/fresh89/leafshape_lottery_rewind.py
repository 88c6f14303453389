"""Lottery-ticket search on a small leaf-shape classifier.

Tree species (5 classes) from 6 leaf measurements. Each round trains the
masked network from the SAME initial weights (rewind to init), then prunes
30% of the surviving weights of every hidden Linear layer by magnitude.
Round 0 is the dense network. Pruned weights are multiplied by a fixed 0/1
mask in the forward pass, so they get no gradient and the surviving ones
train normally.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SPECIES = ["oak", "maple", "birch", "willow", "beech"]
ROUNDS = 5
EPOCHS = 6
BATCH = 64
PRUNE_FRAC = 0.30


def make_leaves(n, rng):
    """Synthetic leaf measurements: length, width, lobes, serration,
    petiole length, vein angle. Species decided by a made-up key."""
    length = rng.gamma(6.0, 1.6, n)            # cm
    width = length * rng.uniform(0.2, 1.1, n)
    lobes = rng.poisson(2.0, n).astype(np.float64)
    serration = rng.uniform(0, 1, n)
    petiole = rng.gamma(2.0, 0.8, n)
    vein = rng.uniform(25, 70, n)              # degrees
    ratio = width / length
    score = np.stack([
        1.2 * lobes - 2.0 * serration + 0.5 * (ratio - 0.6) - 1.4,      # oak
        1.0 * lobes + 2.5 * ratio + 0.04 * (vein - 45) - 3.6,           # maple
        2.5 * serration - 0.15 * length + 0.6 * petiole - 0.8,          # birch
        -6.0 * (ratio - 0.2) - 0.5 * lobes + 0.05 * length + 2.5,       # willow
        -0.03 * (vein - 40) + 1.0 * (1 - serration) - 0.8 * np.abs(ratio - 0.55) - 0.4 * lobes + 0.75,  # beech
    ], axis=1)
    score = score + rng.normal(0, 0.25, score.shape)
    y = score.argmax(axis=1).astype(np.int32)
    X = np.stack([length, width, lobes, serration, petiole, vein], axis=1)
    return X.astype(np.float32), y


class MaskedMLP(nn.Module):
    def __init__(self, d_in, hidden, n_out):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_out)
        # underscore names are not parameters: the masks never train
        self._masks = {
            "fc1": mx.ones(self.fc1.weight.shape),
            "fc2": mx.ones(self.fc2.weight.shape),
        }

    def __call__(self, x):
        h = x @ (self.fc1.weight * self._masks["fc1"]).T + self.fc1.bias
        h = nn.relu(h)
        h = h @ (self.fc2.weight * self._masks["fc2"]).T + self.fc2.bias
        h = nn.relu(h)
        return self.head(h)


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def accuracy(model, X, y):
    pred = mx.argmax(model(X), axis=1)
    return (pred == y).astype(mx.float32).mean().item()


def density(model):
    kept = sum(m.sum().item() for m in model._masks.values())
    total = sum(m.size for m in model._masks.values())
    return kept / total


def prune(model, frac):
    """Remove `frac` of the remaining weights of each masked layer."""
    for name, mask in model._masks.items():
        w = getattr(model, name).weight
        alive = np.array(mask) > 0
        mags = np.abs(np.array(w))[alive]
        k = int(frac * mags.size)
        thresh = np.sort(mags)[k]
        new = (np.abs(np.array(w)) >= thresh) & alive
        model._masks[name] = mx.array(new.astype(np.float32))


def train_round(model, Xtr, ytr, Xva, yva, rng, rnd):
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    curve = []
    first = True
    for ep in range(EPOCHS):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - BATCH + 1, BATCH):
            idx = mx.array(perm[i:i + BATCH])
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            if first and rnd == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0]
                print(f"gradient check: {len(flat)} leaves, all-zero: {zero or 'none'}")
            first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        curve.append((tot / cnt, accuracy(model, Xva, yva)))
    return curve


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    Xtr_np, ytr_np = make_leaves(6000, rng)
    Xva_np, yva_np = make_leaves(1500, rng)
    mu, sd = Xtr_np.mean(0), Xtr_np.std(0)
    Xtr = mx.array((Xtr_np - mu) / sd)
    Xva = mx.array((Xva_np - mu) / sd)
    ytr, yva = mx.array(ytr_np), mx.array(yva_np)
    counts = np.bincount(ytr_np, minlength=5) / len(ytr_np)
    print("class shares: " + ", ".join(f"{s} {100 * c:.1f}%" for s, c in zip(SPECIES, counts)))

    model = MaskedMLP(6, 128, 5)
    mx.eval(model.parameters())
    theta0 = tree_map(lambda p: mx.array(p), model.parameters())  # copy of the init
    print(f"untrained val error: {100 * (1 - accuracy(model, Xva, yva)):.2f}% (chance 80%)")

    print()
    print(f"{'round':>5} {'density':>8} {'epoch':>5} {'train_ce':>9} {'val_err%':>9}")
    print("-" * 40)
    summary = []
    t0 = time.time()
    for rnd in range(ROUNDS):
        if rnd > 0:
            prune(model, PRUNE_FRAC)
            model.update(tree_map(lambda p: mx.array(p), theta0))   # rewind to init
            mx.eval(model.parameters())
        dens = density(model)
        curve = train_round(model, Xtr, ytr, Xva, yva, rng, rnd)
        for ep, (ce, acc) in enumerate(curve, 1):
            if ep in (1, EPOCHS // 2, EPOCHS):
                print(f"{rnd:>5} {100 * dens:>7.1f}% {ep:>5} {ce:>9.4f} {100 * (1 - acc):>8.2f}%")
        # pruned weights must still hold their init values (no gradient reaches them)
        for name, mask in model._masks.items():
            w = np.array(getattr(model, name).weight)
            w0 = np.array(theta0[name]["weight"])
            dead = np.array(mask) == 0
            assert np.allclose(w[dead], w0[dead]), "a pruned weight moved"
        summary.append((rnd, dens, curve[-1][1]))
        print("-" * 40)

    print(f"done in {time.time() - t0:.1f}s")
    best = max(summary, key=lambda r: r[2])
    for rnd, dens, acc in summary:
        mark = "  <- best" if rnd == best[0] else ""
        print(f"round {rnd}: {100 * dens:5.1f}% of hidden weights kept, val error {100 * (1 - acc):5.2f}%{mark}")


if __name__ == "__main__":
    main()
