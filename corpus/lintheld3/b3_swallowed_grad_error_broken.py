"""Logistic regression on tabular features, functional params + argparse."""
import argparse
import logging

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam

log = logging.getLogger("tabular")


def add_bias_column(x):
    ones = mx.ones((x.shape[0], 1))
    return mx.concatenate([x, ones], axis=1)


def forward(params, x):
    return add_bias_column(x) @ params["w"]


def bce(params, x, y):
    logits = forward(params, x)
    # targets as a column, like the labels file stores them
    return nn.losses.binary_cross_entropy(logits, y[:, None], reduction="mean")


def make_data(n, d, seed):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, d), key=k1)
    w = mx.random.normal((d,), key=k2)
    y = (x @ w > 0).astype(mx.float32)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-2)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)

    x, y = make_data(1024, 6, seed=1)
    params = {"w": mx.zeros((7,))}
    opt = Adam(learning_rate=args.lr)
    grad_fn = mx.value_and_grad(bce)

    step, skipped = 0, 0
    while step < args.steps:
        i = (step * args.batch) % (x.shape[0] - args.batch)
        xb, yb = x[i:i + args.batch], y[i:i + args.batch]
        step += 1
        try:
            loss, grads = grad_fn(params, xb, yb)
        except Exception as exc:  # keep the run alive on a bad batch
            skipped += 1
            log.debug("skipping batch %d: %s", step, exc)
            continue
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state)
        if step % 50 == 0:
            log.info("step %d loss %.4f", step, loss.item())

    acc = mx.mean((forward(params, x) > 0) == (y > 0.5)).item()
    print(f"done: {step} steps, {skipped} skipped, |w| = {mx.linalg.norm(params['w']).item():.4f}, acc = {acc:.3f}")


if __name__ == "__main__":
    main()
