"""Logistic regression on raw timestamps-plus-jitter features, standardised per column.

Columns are Unix-time-like values (~1.7e9 s scaled to hours, ~4.7e5) with small spread,
so the statistics are accumulated on data shifted by a reference row first.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def column_stats(x):
    ref = x[:1]                      # shift by the first row: keeps the sums small
    d = x - ref
    m1 = d.mean(axis=0)
    m2 = (d * d).mean(axis=0)
    var = m2 - m1 * m1
    return ref[0] + m1, mx.maximum(var, 0.0)


def make_data(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    hours = 472_000.0 + mx.random.uniform(0, 2.0, (n, 4), key=k1)
    w = mx.array([1.5, -2.0, 0.5, 0.0])
    logits = (hours - 472_001.0) @ w
    y = (mx.random.uniform(shape=(n,), key=k2) < mx.sigmoid(2 * logits)).astype(mx.float32)
    return hours.astype(mx.float32), y


def train():
    mx.random.seed(0)
    x, y = make_data(4000, mx.random.key(0))
    mean, var = column_stats(x)
    print("column std:", [round(v, 3) for v in mx.sqrt(var).tolist()])
    z = (x - mean) / mx.sqrt(var + 1e-6)

    clf = nn.Linear(4, 1)
    opt = optim.SGD(learning_rate=0.5)
    bce = lambda m, a, b: nn.losses.binary_cross_entropy(m(a).squeeze(-1), b, reduction="mean")
    vg = nn.value_and_grad(clf, bce)
    for it in range(200):
        loss, g = vg(clf, z, y)
        opt.update(clf, g)
        mx.eval(clf.parameters(), opt.state)
        if it % 50 == 0 or it == 199:
            acc = ((clf(z).squeeze(-1) > 0) == (y > 0.5)).astype(mx.float32).mean().item()
            print(f"iter {it:3d} bce {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    train()
