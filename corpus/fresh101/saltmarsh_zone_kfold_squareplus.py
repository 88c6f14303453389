"""Salt-marsh vegetation zone (low marsh / high marsh / upland fringe) from six field-survey
readings, scored by 5-fold cross-validation.  Every fold trains a fresh network from scratch.

The hidden activation is squareplus, written as an mx.custom_function with its own
hand-derived vjp; the update is plain SGD with momentum written over tree_map.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

FEATURES = ["elev_mhw_cm", "inund_pct", "salinity_psu", "creek_dist_m", "organic_pct", "slope_deg"]
ZONES = ["low", "high", "fringe"]
SQ_B = 4.0


@mx.custom_function
def squareplus(x):
    return 0.5 * (x + mx.sqrt(x * x + SQ_B))


@squareplus.vjp
def squareplus_vjp(x, cotangent, output):
    # one input, so the primal and the returned cotangent are plain arrays (not tuples)
    return cotangent * 0.5 * (1.0 + x / mx.sqrt(x * x + SQ_B))


def survey(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    elev = rng.normal(10.0, 22.0, n)                       # cm above mean high water
    inund = 100.0 / (1.0 + np.exp(elev / 9.0)) + rng.normal(0, 6, n)
    creek = rng.gamma(2.0, 25.0, n)
    sal = 30.0 - 0.12 * elev + 0.03 * creek + rng.normal(0, 3.0, n)
    organic = 8.0 + 0.08 * creek - 0.05 * elev + rng.normal(0, 2.5, n)
    slope = np.abs(rng.normal(1.5, 1.2, n))
    score_low = -0.11 * elev + 0.025 * inund - 0.01 * creek
    score_fringe = 0.09 * (elev - 25.0) - 0.08 * (sal - 25.0) + 0.25 * slope
    score_high = 0.6 - 0.004 * (elev - 12.0) ** 2 + 0.05 * organic
    logits = np.stack([score_low, score_high, score_fringe], 1) * 2.0
    g = rng.gumbel(size=logits.shape)
    zone = np.argmax(logits + g, 1)
    X = np.stack([elev, inund, sal, creek, organic, slope], 1)
    return X.astype(np.float32), zone.astype(np.int32)


class ZoneNet(nn.Module):
    def __init__(self, d_in, hidden, n_out):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_out)

    def __call__(self, x):
        h = squareplus(self.l1(x))
        h = squareplus(self.l2(h))
        return self.out(h)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class FoldTrainer:
    def __init__(self, epochs=45, batch=64, lr=0.015, momentum=0.9, weight_decay=1e-4, hidden=32):
        self.epochs, self.batch, self.lr = epochs, batch, lr
        self.momentum, self.wd, self.hidden = momentum, weight_decay, hidden

    def sgd_step(self, model, grads, velocity):
        params = model.trainable_parameters()
        velocity = tree_map(lambda v, g, p: self.momentum * v + g + self.wd * p, velocity, grads, params)
        model.update(tree_map(lambda p, v: p - self.lr * v, params, velocity))
        return velocity

    def run(self, fold, Xtr, ytr, Xva, yva, rng):
        model = ZoneNet(Xtr.shape[1], self.hidden, len(ZONES))
        mx.eval(model.parameters())
        velocity = tree_map(mx.zeros_like, model.trainable_parameters())
        grad_fn = nn.value_and_grad(model, xent)
        Xv, yv = mx.array(Xva), mx.array(yva)
        for epoch in range(1, self.epochs + 1):
            perm = rng.permutation(len(Xtr))
            total, seen = 0.0, 0
            for s in range(0, len(perm), self.batch):
                ids = perm[s:s + self.batch]
                loss, grads = grad_fn(model, mx.array(Xtr[ids]), mx.array(ytr[ids]))
                velocity = self.sgd_step(model, grads, velocity)
                mx.eval(model.parameters(), velocity, loss)
                total += loss.item() * len(ids)
                seen += len(ids)
            if epoch == 1 or epoch % 15 == 0:
                acc = mx.mean(mx.argmax(model(Xv), axis=1) == yv).item()
                print(f"  fold {fold} | epoch {epoch:3d} | train loss {total / seen:.4f} | "
                      f"val acc {100 * acc:5.1f}%")
        pred = np.array(mx.argmax(model(Xv), axis=1))
        return float((pred == yva).mean()), pred


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    X, y = survey()
    print(f"{len(X)} quadrats, zone shares: " +
          ", ".join(f"{z} {100 * np.mean(y == i):.1f}%" for i, z in enumerate(ZONES)))
    folds = np.array_split(rng.permutation(len(X)), 5)
    trainer = FoldTrainer()
    accs, confusion = [], np.zeros((3, 3), dtype=int)
    for k in range(5):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(5) if j != k])
        mu, sd = X[tr].mean(0), X[tr].std(0)      # standardise with this fold's training rows only
        acc, pred = trainer.run(k + 1, (X[tr] - mu) / sd, y[tr], (X[va] - mu) / sd, y[va], rng)
        accs.append(acc)
        np.add.at(confusion, (y[va], pred), 1)
        print(f"fold {k + 1}: held-out accuracy {100 * acc:.1f}%")
    majority = max(np.mean(y == i) for i in range(3))
    print(f"\ncross-validated accuracy {100 * np.mean(accs):.1f}% +/- {100 * np.std(accs):.1f}% "
          f"(majority-class baseline {100 * majority:.1f}%)")
    print("pooled confusion (rows = true zone, % of row):")
    print("          " + "".join(f"{z:>8s}" for z in ZONES))
    for i, z in enumerate(ZONES):
        row = 100 * confusion[i] / confusion[i].sum()
        print(f"{z:>8s}  " + "".join(f"{v:7.1f}%" for v in row))


if __name__ == "__main__":
    main()
