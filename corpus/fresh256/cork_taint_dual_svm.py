"""Cork-taint screening at a wine cellar: clean vs tainted corks from 16
synthetic GC-MS peak features. Linear SVM (hinge loss, L2) trained with
stochastic dual coordinate ascent (SDCA) written by hand in MLX.

Per epoch we print the primal objective (goes down), the dual objective
(goes up: it is a lower bound that climbs toward the primal), the duality
gap, and train/test error beside two baselines.
"""
import time

import numpy as np
import mlx.core as mx

rng = np.random.default_rng(7)
N_TRAIN, N_TEST, D = 2000, 1000, 16
FLIP = 0.08
LAM = 1e-2
EPOCHS = 14


def make_split(n):
    # correlated peak areas, a few informative compounds (TCA, TBA, guaiacol, ...)
    mix = rng.normal(size=(D, D)) * 0.3 + np.eye(D)
    x = rng.normal(size=(n, D)) @ mix
    w_true = np.zeros(D)
    w_true[[0, 2, 3, 7, 11]] = [1.6, -1.1, 0.9, 0.7, -0.6]
    score = x @ w_true + 0.4
    y = np.where(score + 0.3 * rng.normal(size=n) > 0, 1.0, -1.0)
    flip = rng.random(n) < FLIP
    y[flip] = -y[flip]
    return x, y


x_tr, y_tr = make_split(N_TRAIN)
x_te, y_te = make_split(N_TEST)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - mu) / sd
x_te = (x_te - mu) / sd
# constant column for the bias
x_tr = np.hstack([x_tr, np.ones((N_TRAIN, 1))])
x_te = np.hstack([x_te, np.ones((N_TEST, 1))])

X = mx.array(x_tr.astype(np.float32))
Y = mx.array(y_tr.astype(np.float32))
Xte = mx.array(x_te.astype(np.float32))
Yte = mx.array(y_te.astype(np.float32))
rows = [X[i] for i in range(N_TRAIN)]
mx.eval(rows)
sqnorm = np.asarray(mx.sum(X * X, axis=1))


def primal(w):
    hinge = mx.maximum(0.0, 1.0 - Y * (X @ w))
    return 0.5 * LAM * mx.sum(w * w) + mx.mean(hinge)


def dual(alpha, w):
    return mx.mean(alpha) - 0.5 * LAM * mx.sum(w * w)


def err(w, A, B):
    return mx.mean((A @ w) * B <= 0)


# baselines: majority class, and a least-squares (ridge) classifier
maj = max((y_te > 0).mean(), (y_te < 0).mean())
A = X.T @ X + 1e-2 * mx.eye(D + 1)
w_ls = mx.linalg.solve(A, X.T @ Y, stream=mx.cpu)
print(f"baseline test error: majority {1 - maj:.4f}, least-squares {err(w_ls, Xte, Yte).item():.4f}, label-flip floor ~{FLIP:.2f}")

alpha = np.zeros(N_TRAIN, dtype=np.float32)
w = mx.zeros((D + 1,))
scale = 1.0 / (LAM * N_TRAIN)
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(N_TRAIN)
    moved = 0
    for i in order:
        xi = rows[i]
        yi = float(y_tr[i])
        margin = yi * (w @ xi).item()
        a_new = alpha[i] + (1.0 - margin) / (sqnorm[i] * scale)
        a_new = min(1.0, max(0.0, a_new))
        delta = a_new - alpha[i]
        if delta != 0.0:
            alpha[i] = a_new
            w = w + (delta * yi * scale) * xi
            moved += 1
    mx.eval(w)
    a = mx.array(alpha)
    p, d = primal(w).item(), dual(a, w).item()
    n_sv = int((alpha > 0).sum())
    print(
        f"epoch {epoch:2d} | primal {p:.5f} | dual {d:.5f} | gap {p - d:.2e} | "
        f"coords moved {moved:4d} | support vectors {n_sv:4d} | "
        f"train err {err(w, X, Y).item():.4f} | test err {err(w, Xte, Yte).item():.4f}"
    )
print(f"done in {time.time() - t0:.1f}s; final test error {err(w, Xte, Yte).item():.4f} vs majority {1 - maj:.4f}")
