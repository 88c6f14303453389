"""Functional-style 4-class classifier on gaussian blobs (no nn.Module):
parameters live in a dict, the objective is a hand-written NLL."""
import argparse

import mlx.core as mx
from mlx.utils import tree_map


def make_blobs(key, n_per_class, n_classes=4, dim=6):
    centers = mx.random.normal((n_classes, dim), key=key) * 3.0
    ks = mx.random.split(key, n_classes)
    xs, ys = [], []
    for c in range(n_classes):
        xs.append(centers[c] + mx.random.normal((n_per_class, dim), key=ks[c]))
        ys.append(mx.full((n_per_class,), c, dtype=mx.int32))
    return mx.concatenate(xs), mx.concatenate(ys)


def init_params(key, dim, hidden, n_classes):
    k1, k2 = mx.random.split(key)
    return {
        "h": {"w": mx.random.normal((dim, hidden), key=k1) * dim ** -0.5, "b": mx.zeros((hidden,))},
        "out": {"w": mx.random.normal((hidden, n_classes), key=k2) * hidden ** -0.5,
                "b": mx.zeros((n_classes,))},
    }


def forward(params, x):
    h = mx.maximum(x @ params["h"]["w"] + params["h"]["b"], 0.0)
    return h @ params["out"]["w"] + params["out"]["b"]


def log_probs(logits):
    # numerically-stable log-softmax
    return logits - mx.logsumexp(logits, axis=-1, keepdims=True)


def objective(params, x, labels):
    logp = log_probs(forward(params, x))
    return -mx.mean(logp)


def accuracy(params, x, labels):
    return mx.mean(mx.argmax(forward(params, x), axis=-1) == labels).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--bs", type=int, default=64)
    args = ap.parse_args()

    key = mx.random.key(7)
    kd, kp, ks = mx.random.split(key, 3)
    x, y = make_blobs(kd, 128)
    params = init_params(kp, x.shape[1], 32, 4)
    grad_fn = mx.value_and_grad(objective)

    n = x.shape[0]
    for epoch in range(args.epochs):
        perm = mx.random.permutation(n, key=mx.random.split(ks, args.epochs)[epoch])
        tot = 0.0
        for i in range(0, n, args.bs):
            idx = perm[i:i + args.bs]
            val, g = grad_fn(params, x[idx], y[idx])
            params = tree_map(lambda p, d: p - args.lr * d, params, g)
            mx.eval(params, val)
            tot += val.item()
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:3d} objective {tot / (n // args.bs):.4f} acc {accuracy(params, x, y):.3f}")


if __name__ == "__main__":
    main()
