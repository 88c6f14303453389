"""Augmented batches are prepared in a thread pool while the main thread trains."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

RNG = np.random.default_rng(0)
N, D = 3000, 16
CENTERS = RNG.normal(0, 2.5, size=(4, D)).astype(np.float32)
LABELS = RNG.integers(0, 4, size=N)
FEATS = (CENTERS[LABELS] + RNG.normal(0, 4.0, size=(N, D))).astype(np.float32)


def materialize(*arrays):
    mx.eval(*arrays)
    return arrays


def build_batch(seed, bs=128):
    """Runs in a worker thread: sample, jitter and scale a batch."""
    r = np.random.default_rng(seed)
    ids = r.integers(0, N, size=bs)
    x = mx.array(FEATS[ids])
    x = x * mx.array(r.uniform(0.9, 1.1, size=(bs, 1)).astype(np.float32)) + 0.05 * mx.random.normal(x.shape)
    y = mx.array(LABELS[ids].astype(np.int32))
    return materialize(x, y)


def main():
    mx.random.seed(0)
    clf = nn.Sequential(nn.Linear(D, 32), nn.GELU(), nn.Linear(32, 4))
    mx.eval(clf.parameters())
    opt = optim.AdamW(learning_rate=5e-3, weight_decay=0.0)
    step_fn = nn.value_and_grad(clf, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(build_batch, s) for s in range(4)]
        for step in range(200):
            x, y = futures.pop(0).result()
            futures.append(pool.submit(build_batch, step + 4))
            loss, grads = step_fn(clf, x, y)
            opt.update(clf, grads)
            mx.eval(clf.parameters(), opt.state, loss)
            if step % 50 == 0:
                print(f"step {step:3d}  loss {loss.item():.4f}")

    acc = (mx.argmax(clf(mx.array(FEATS)), axis=1) == mx.array(LABELS)).mean().item()
    print(f"accuracy on clean features {acc:.3f}")


if __name__ == "__main__":
    main()
