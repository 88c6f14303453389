"""Sugar-beet storage clamps: will a clamp heat up (spoilage hot spot) within 10 days?

Training uses loss-proportional importance sampling: once per epoch every training
clamp is scored, minibatches are drawn with probability mixing its loss share and a
uniform share, and each drawn example is reweighted by 1 / (N * p_i) so the batch loss
stays an unbiased estimate of the plain mean loss.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["core_temp_c", "air_temp_c", "days_stored", "soil_tare_pct",
            "frost_score", "ventilated", "root_kg"]


def make_clamps(n, rng):
    core = rng.normal(6.0, 2.5, n)
    air = rng.normal(4.0, 4.0, n)
    days = rng.uniform(0, 60, n)
    tare = rng.gamma(2.0, 3.0, n)
    frost = rng.integers(0, 4, n).astype(np.float64)
    vent = (rng.random(n) < 0.45).astype(np.float64)
    root = rng.normal(0.9, 0.2, n)
    z = (-4.3 + 0.35 * (core - 6) + 0.18 * np.maximum(air - 4, 0) + 0.025 * days
         + 0.09 * tare + 0.55 * frost * (frost > 1) - 1.1 * vent
         + 0.04 * (core - 6) * days / 10 - 0.6 * (root - 0.9))
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    X = np.stack([core, air, days, tare, frost, vent, root], axis=1).astype(np.float32)
    return X, y


class ClampNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.GELU(),
                                  nn.Linear(width, width), nn.GELU())
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def per_example_bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="none")


def weighted_loss(model, x, y, w):
    return mx.mean(w * per_example_bce(model, x, y))


def score_all(model, X, Y, chunk=2000):
    out = []
    for s in range(0, X.shape[0], chunk):
        l = per_example_bce(model, X[s:s + chunk], Y[s:s + chunk])
        mx.eval(l)
        out.append(np.array(l))
    return np.concatenate(out)


def average_precision(scores, labels):
    order = np.argsort(-scores)
    hits = labels[order]
    cum = np.cumsum(hits)
    prec = cum / np.arange(1, len(hits) + 1)
    return float((prec * hits).sum() / max(hits.sum(), 1))


def row(cells, widths):
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(7)
    Xtr, ytr = make_clamps(12000, rng)
    Xva, yva = make_clamps(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
    Xva_m, yva_m = mx.array(Xva), mx.array(yva)
    N = Xtr.shape[0]
    print(f"clamps: train {N}, valid {len(yva)}, heating share {ytr.mean() * 100:.1f}%")

    model = ClampNet(len(FEATURES))
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
    step_fn = nn.value_and_grad(model, weighted_loss)

    # gradient check on one uniformly weighted batch
    _, g = step_fn(model, Xtr_m[:256], ytr_m[:256], mx.ones((256,)))
    leaves = tree_flatten(g)
    dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"gradient check: {len(leaves)} leaves, zero-gradient leaves: {dead if dead else 'none'}")

    base = -(ytr.mean() * np.log(ytr.mean()) + (1 - ytr.mean()) * np.log(1 - ytr.mean()))
    print(f"constant-rate baseline BCE: {base:.4f}")

    widths = [5, 12, 12, 10, 8, 9, 7]
    print(row(["epoch", "is_batch_bce", "bce_at_start", "valid_bce", "ap_pct", "ess_pct", "secs"], widths))
    batch, epochs, mix = 128, 14, 0.5
    steps = N // batch
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        losses = score_all(model, Xtr_m, ytr_m)          # full scoring pass, no reports
        train_bce = float(losses.mean())  # full-train BCE before this epoch
        p = mix * losses / losses.sum() + (1 - mix) / N
        p = p / p.sum()
        run, ess_acc = 0.0, 0.0
        for _ in range(steps):
            idx = rng.choice(N, size=batch, replace=True, p=p)
            w = (1.0 / (N * p[idx])).astype(np.float32)
            ess_acc += (w.sum() ** 2) / (batch * (w ** 2).sum())
            idx_m = mx.array(idx)
            loss, grads = step_fn(model, Xtr_m[idx_m], ytr_m[idx_m], mx.array(w))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        logits = model(Xva_m)
        vbce = nn.losses.binary_cross_entropy(logits, yva_m, with_logits=True)
        mx.eval(logits, vbce)
        ap = average_precision(np.array(logits), yva)
        print(row([f"{epoch:2d}", f"{run / steps:.4f}", f"{train_bce:.4f}", f"{vbce.item():.4f}",
                   f"{ap * 100:.1f}", f"{ess_acc / steps * 100:.1f}",
                   f"{time.perf_counter() - t0:.1f}"], widths))
    print("done")


if __name__ == "__main__":
    main()
