"""Guest-house review stars (1..5) as ordinal regression.

Cumulative-logit model: a small GELU net gives a guest's latent satisfaction
s(x); P(stars <= k) = sigmoid(cut_k - s).  The four cut points are built
from a first cut plus softplus gaps, so they stay ordered.

Training schedule (on purpose):
  * epochs 1-3: the cut points are FROZEN at an even spacing (freeze with
    keys=) so the net learns the ordering of guests first;
  * epoch 4 on: the cut points are unfrozen and learned with the rest.

No mlx.optimizers: a hand-written heavy-ball SGD over tree_flatten /
tree_unflatten with one velocity per parameter path (new paths get a zero
velocity when they become trainable).  The progress line is redrawn with
'\\r' while an epoch runs.
"""

import sys
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_TEST = 12000, 3000
BATCH = 64
EPOCHS = 12
FREEZE_EPOCHS = 3
LR, MOMENTUM = 0.05, 0.9
N_CLASSES = 5


def simulate(rng, n):
    clean = rng.normal(0, 1, n)
    location = rng.normal(0, 1, n)
    price_ratio = rng.lognormal(0.0, 0.35, n)      # paid / local average
    noise = rng.poisson(0.6, n).astype(np.float64)  # noise complaints logged
    staff = rng.normal(0, 1, n)
    wifi = rng.binomial(1, 0.8, n).astype(np.float64)
    nights = rng.integers(1, 9, n).astype(np.float64)
    latent = (0.9 * clean + 0.5 * location - 1.1 * np.log(price_ratio)
              - 0.45 * noise + 0.7 * np.tanh(1.5 * staff) + 0.4 * wifi
              + 0.25 * clean * staff - 0.04 * nights)
    latent = latent + rng.logistic(0.0, 0.45, n)
    true_cuts = np.array([-2.2, -1.3, -0.35, 0.75])   # most stays get 4-5 stars
    y = np.searchsorted(true_cuts, latent)            # 0..4  -> 1..5 stars
    X = np.stack([clean, location, np.log(price_ratio), noise, staff, wifi,
                  nights / 4.0 - 1.0], axis=1).astype(np.float32)
    return X, y.astype(np.int32)


class OrdinalNet(nn.Module):
    def __init__(self, d_in=7, width=32):
        super().__init__()
        self.score = nn.Sequential(
            nn.Linear(d_in, width), nn.GELU(),
            nn.Linear(width, width), nn.GELU(),
            nn.Linear(width, 1, bias=False),   # a shared offset is the cuts' job
        )
        # even spacing -1.5, -0.5, 0.5, 1.5:  gap = softplus^-1(1.0)
        self.c0 = mx.array([-1.5])
        self.gaps = mx.full((N_CLASSES - 2,), float(np.log(np.expm1(1.0))))

    def cuts(self):
        return mx.concatenate([self.c0, self.c0 + mx.cumsum(nn.softplus(self.gaps))])

    def class_probs(self, x):
        s = self.score(x)                                   # (B, 1)
        cdf = mx.sigmoid(self.cuts()[None, :] - s)          # (B, 4)
        B = cdf.shape[0]
        cdf = mx.concatenate([mx.zeros((B, 1)), cdf, mx.ones((B, 1))], axis=1)
        return cdf[:, 1:] - cdf[:, :-1]                     # (B, 5)


def nll(model, x, y):
    p = model.class_probs(x)
    p_y = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.log(mx.maximum(p_y, 1e-7)).mean()


def quadratic_kappa(y, pred, k=N_CLASSES):
    O = np.zeros((k, k))
    np.add.at(O, (y, pred), 1)
    W = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2 / (k - 1) ** 2
    E = np.outer(O.sum(1), O.sum(0)) / O.sum()
    return 1.0 - (W * O).sum() / (W * E).sum()


def test_metrics(model, X, y_np):
    p = model.class_probs(X)
    loss = nll(model, X, mx.array(y_np)).item()
    pred = np.array(mx.argmax(p, axis=1))
    return {
        "nll": loss,
        "exact_pct": 100.0 * float((pred == y_np).mean()),
        "mae_stars": float(np.abs(pred - y_np).mean()),
        "qwk": quadratic_kappa(y_np, pred),
    }


class HeavyBall:
    """v <- m v + g ; p <- p - lr v, one velocity per flattened path."""

    def __init__(self, lr, momentum):
        self.lr, self.momentum = lr, momentum
        self.velocity = {}

    def step(self, model, grads):
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for path, g in tree_flatten(grads):
            v = self.velocity.get(path)
            v = g if v is None else self.momentum * v + g
            self.velocity[path] = v
            new.append((path, params[path] - self.lr * v))
        model.update(tree_unflatten(new))

    def state(self):
        return list(self.velocity.values())


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    Xtr, ytr = simulate(rng, N_TRAIN)
    Xte, yte = simulate(rng, N_TEST)
    Xtr_m, ytr_m, Xte_m = mx.array(Xtr), mx.array(ytr), mx.array(Xte)

    shares = np.bincount(ytr, minlength=N_CLASSES) / N_TRAIN
    print("star shares (train): " + "  ".join(
        f"{k + 1}*={100 * s:.1f}%" for k, s in enumerate(shares)))
    mode = int(np.argmax(shares))
    print(f"always-{mode + 1}-stars baseline: exact {100 * float((yte == mode).mean()):.1f}%, "
          f"MAE {float(np.abs(yte - mode).mean()):.3f} stars, QWK 0.000")

    model = OrdinalNet()
    mx.eval(model.parameters())
    model.freeze(keys=["c0", "gaps"], recurse=False)
    frozen_cuts = np.array(model.cuts())
    sgd = HeavyBall(LR, MOMENTUM)
    loss_and_grad = nn.value_and_grad(model, nll)

    _, g0 = loss_and_grad(model, Xtr_m[:BATCH], ytr_m[:BATCH])
    g0 = tree_flatten(g0)
    zero = [k for k, v in g0 if not bool(mx.any(v != 0).item())]
    print(f"first batch: {len(g0)} trainable leaves, zero-gradient leaves: {zero or 'none'}; "
          f"cut points frozen at {np.round(frozen_cuts, 2).tolist()}")
    assert not zero

    m = test_metrics(model, Xte_m, yte)
    print(f"untrained: test nll {m['nll']:.4f}  exact {m['exact_pct']:.1f}%  "
          f"MAE {m['mae_stars']:.3f}  QWK {m['qwk']:.3f}")

    steps = N_TRAIN // BATCH
    for epoch in range(1, EPOCHS + 1):
        if epoch == FREEZE_EPOCHS + 1:
            drift = float(np.abs(np.array(model.cuts()) - frozen_cuts).max())
            model.unfreeze(keys=["c0", "gaps"], recurse=False)
            print(f"-- cut points unfrozen (max drift while frozen: {drift:.1e})")
        phase = "cuts frozen" if epoch <= FREEZE_EPOCHS else "cuts learned"
        t0 = time.perf_counter()
        perm = rng.permutation(N_TRAIN)
        seen, total = 0, 0.0
        for i in range(steps):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
            sgd.step(model, grads)
            mx.eval(loss, model.parameters(), sgd.state())
            total += loss.item()
            seen += 1
            if i % 20 == 0 or i == steps - 1:
                done = int(30 * (i + 1) / steps)
                sys.stdout.write(
                    f"\repoch {epoch:2d}/{EPOCHS} [{'#' * done}{'.' * (30 - done)}] "
                    f"{i + 1:3d}/{steps} train nll {total / seen:.4f}")
                sys.stdout.flush()
        m = test_metrics(model, Xte_m, yte)
        sys.stdout.write(
            f"\repoch {epoch:2d}/{EPOCHS} ({phase}) train nll {total / seen:.4f} | "
            f"test nll {m['nll']:.4f}  exact {m['exact_pct']:.1f}%  MAE {m['mae_stars']:.3f}  "
            f"QWK {m['qwk']:.3f} | {time.perf_counter() - t0:.1f}s\n")

    print("learned cut points: " + ", ".join(f"{c:+.2f}" for c in np.array(model.cuts()))
          + "   (simulator: -2.20, -1.30, -0.35, +0.75 on its own scale)")
    print("done")


if __name__ == "__main__":
    main()
