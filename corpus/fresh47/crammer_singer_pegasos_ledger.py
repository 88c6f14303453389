"""Multiclass linear SVM (Crammer-Singer hinge) trained with Pegasos.

Hand-written update, no mlx.optimizers:
  eta_t = 1 / (lam * t)
  W <- (1 - eta_t * lam) W - eta_t * grad(mean hinge on a minibatch)
  W <- W * min(1, (1/sqrt(lam)) / ||W||)          (projection step)
The evaluated model is the running average of the iterates from the second
half of training (suffix averaging).  A ledger line every 2000 iterations.
"""
import time

import mlx.core as mx
import numpy as np

K, D = 4, 6


def make_data(rng, n):
    centers = rng.normal(0, 1.6, size=(K, D))
    y = rng.integers(0, K, size=n)
    x = centers[y] + rng.normal(0, 1.0, size=(n, D))
    x = np.concatenate([x, np.ones((n, 1))], axis=1)     # bias column
    return x.astype(np.float32), y.astype(np.int32)


def cs_hinge(W, x, y):
    scores = x @ W.T                                       # (n, K)
    true = mx.take_along_axis(scores, y[:, None], axis=1)  # (n, 1)
    margin = 1.0 - (mx.arange(K)[None, :] == y[:, None]).astype(mx.float32)
    return mx.mean(mx.max(scores + margin - true, axis=1))


def objective(W, x, y, lam):
    return 0.5 * lam * mx.sum(W * W) + cs_hinge(W, x, y)


def error(W, x, y):
    return mx.mean(mx.argmax(x @ W.T, axis=1) != y).item()


def main():
    rng = np.random.default_rng(5)
    xa, ya = make_data(rng, 6000)
    xtr, ytr = mx.array(xa[:5000]), mx.array(ya[:5000])
    xte, yte = mx.array(xa[5000:]), mx.array(ya[5000:])

    lam = 1e-3
    radius = 1.0 / np.sqrt(lam)
    W = mx.zeros((K, D + 1))
    W_avg = mx.zeros_like(W)
    n_avg = 0
    iters, bs = 20000, 24
    hinge_grad = mx.grad(cs_hinge)

    g0 = hinge_grad(W, xtr[:bs], ytr[:bs])
    assert mx.any(g0 != 0).item(), "zero gradient at the first step"
    print(f"pegasos: lam={lam} batch={bs} iters={iters}  |grad| at t=1: {mx.sqrt(mx.sum(g0 * g0)).item():.3f}")
    print(f"{'iter':>6} | {'eta':>9} | {'primal obj':>10} | {'train err':>9} | {'test err*':>17} | {'||W||':>6}")
    print("-" * 75)

    t0 = time.time()
    for t in range(1, iters + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=bs))
        eta = 1.0 / (lam * t)
        g = hinge_grad(W, xtr[idx], ytr[idx])
        W = (1.0 - eta * lam) * W - eta * g
        norm = mx.sqrt(mx.sum(W * W))
        W = W * mx.minimum(1.0, radius / (norm + 1e-12))
        if t > iters // 2:
            n_avg += 1
            W_avg = W_avg + (W - W_avg) / n_avg
        mx.eval(W, W_avg)
        if t % 2000 == 0:
            ev = W_avg if n_avg else W
            print(f"{t:>6} | {eta:9.4f} | {objective(W, xtr, ytr, lam).item():10.4f} | "
                  f"{error(W, xtr, ytr):9.4f} | {error(ev, xte, yte):17.4f} | {mx.sqrt(mx.sum(W * W)).item():6.2f}")
    print("-" * 75)
    print(f"* test err of the current iterate for t <= {iters // 2}, of the suffix-averaged iterate after")
    print(f"final averaged iterate: primal obj {objective(W_avg, xtr, ytr, lam).item():.4f}, "
          f"test err {error(W_avg, xte, yte):.4f}   ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
