"""Fit a ridge-regression probe in MLX, then bootstrap its test error in
parallel worker processes (each worker also computes with MLX)."""
import concurrent.futures as cf
import multiprocessing as mp
import os
import time

import numpy as np
import mlx.core as mx

N_BOOT, N_WORKERS = 8, 2


def fit_ridge(x, y, lam=1e-2):
    d = x.shape[1]
    a = x.T @ x + lam * mx.eye(d)
    return mx.linalg.solve(a, x.T @ y, stream=mx.cpu)


def bootstrap_mse(job):
    seed, w_np, x_np, y_np = job
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x_np.shape[0], x_np.shape[0])
    x, y, w = mx.array(x_np[idx]), mx.array(y_np[idx]), mx.array(w_np)
    err = ((x @ w - y) ** 2).mean()
    return seed, os.getpid(), err.item()


def main():
    mx.random.seed(0)
    w_true = mx.random.normal((20, 1))
    x = mx.random.normal((2000, 20))
    y = x @ w_true + 0.1 * mx.random.normal((2000, 1))
    w_hat = fit_ridge(x[:1500], y[:1500])
    mx.eval(w_hat)
    print(f"fitted, |w_hat - w_true| = {mx.abs(w_hat - w_true).max().item():.4f}", flush=True)

    x_te, y_te = np.array(x[1500:]), np.array(y[1500:])
    jobs = [(s, np.array(w_hat), x_te, y_te) for s in range(N_BOOT)]
    t0 = time.time()
    with cf.ProcessPoolExecutor(max_workers=N_WORKERS, mp_context=mp.get_context("spawn")) as pool:
        results = list(pool.map(bootstrap_mse, jobs))
    errs = [r[2] for r in results]
    print(f"bootstrap test mse {np.mean(errs):.5f} +- {np.std(errs):.5f} "
          f"from {len({r[1] for r in results})} workers in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
