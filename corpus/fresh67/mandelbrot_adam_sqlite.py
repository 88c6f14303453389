# Membership in the Mandelbrot set from the point c = x + iy.  Pure-function MLP over
# random Fourier features, hand-written Adam, silent while training; the report at the
# end is printed as an sqlite3 shell session.
import time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(3)
X0, X1, Y0, Y1 = -2.1, 0.6, -1.25, 1.25


def escape_label(pts, iters=80):
    c = pts[:, 0] + 1j * pts[:, 1]
    z = np.zeros_like(c)
    inside = np.ones(len(c), bool)
    for _ in range(iters):
        z[inside] = z[inside] ** 2 + c[inside]
        inside &= np.abs(z) <= 2.0
    return inside.astype(np.float32)


def draw(n):
    p = np.stack([rng.uniform(X0, X1, n), rng.uniform(Y0, Y1, n)], 1)
    return p.astype(np.float32), escape_label(p)


p_tr, y_tr = draw(24000)
p_te, y_te = draw(6000)
P_tr, Y_tr, P_te, Y_te = map(mx.array, (p_tr, y_tr, p_te, y_te))

B = mx.array(rng.normal(0, 3.0, size=(2, 48)).astype(np.float32))   # fixed, not trained


def init(sizes):
    ps = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        ps[f"W{i}"] = mx.array(rng.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32))
        ps[f"b{i}"] = mx.zeros((b,))
    return ps


params = init([96, 128, 128, 1])
NL = 3


def forward(ps, p):
    h = p @ B
    h = mx.concatenate([mx.sin(h), mx.cos(h)], axis=-1)
    for i in range(NL):
        h = h @ ps[f"W{i}"] + ps[f"b{i}"]
        if i < NL - 1:
            h = mx.maximum(h, 0.0)
    return h[:, 0]


def bce(ps, p, y):
    z = forward(ps, p)
    return mx.mean(mx.logaddexp(0.0, z) - y * z)


vg = mx.value_and_grad(bce)

# hand-written Adam
lr, b1, b2, eps = 2e-3, 0.9, 0.999, 1e-8
m = tree_map(mx.zeros_like, params)
v = tree_map(mx.zeros_like, params)

_, g0 = vg(params, P_tr[:256], Y_tr[:256])
zero_leaves = [k for k, g in tree_flatten(g0) if mx.abs(g).max().item() == 0]

STEPS, BS = 3000, 256
hist = []
t0 = time.perf_counter()
for t in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(y_tr), BS))
    loss, g = vg(params, P_tr[idx], Y_tr[idx])
    m = tree_map(lambda a, b_: b1 * a + (1 - b1) * b_, m, g)
    v = tree_map(lambda a, b_: b2 * a + (1 - b2) * b_ * b_, v, g)
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    step_lr = lr * (0.5 * (1 + np.cos(np.pi * t / STEPS)) * 0.95 + 0.05)
    params = tree_map(lambda w, a, b_: w - step_lr * (a / c1) / (mx.sqrt(b_ / c2) + eps), params, m, v)
    mx.eval(params, m, v, loss)
    if t in (1, 10, 100) or t % 500 == 0:
        z = forward(params, P_te)
        te = mx.mean(mx.logaddexp(0.0, z) - Y_te * z).item()
        pred = z > 0
        acc = (pred == (Y_te > 0.5)).astype(mx.float32).mean().item()
        inter = mx.sum(pred & (Y_te > 0.5)).item()
        union = mx.sum(pred | (Y_te > 0.5)).item()
        area = mx.mean(pred.astype(mx.float32)).item() * (X1 - X0) * (Y1 - Y0)
        hist.append((t, loss.item(), te, acc, inter / max(union, 1), area, step_lr,
                     time.perf_counter() - t0))

true_area = y_te.mean() * (X1 - X0) * (Y1 - Y0)
print("SQLite version 3.45.1 2024-01-30 16:01:20")
print('Enter ".help" for usage hints.')
print("sqlite> .mode list")
print("sqlite> SELECT n_leaves, zero_grad_leaves, train_pts, test_pts FROM run;")
print(f"{len(tree_flatten(g0))}|{len(zero_leaves)}|{len(y_tr)}|{len(y_te)}")
print("sqlite> SELECT inside_share, true_area_mc FROM data;")
print(f"{y_te.mean():.4f}|{true_area:.4f}")
print("sqlite> .headers on")
print("sqlite> SELECT step, batch_bce, test_bce, test_acc, test_iou, area_est, lr, secs FROM history;")
print("step|batch_bce|test_bce|test_acc|test_iou|area_est|lr|secs")
for r in hist:
    print(f"{r[0]}|{r[1]:.4f}|{r[2]:.4f}|{r[3]:.4f}|{r[4]:.4f}|{r[5]:.4f}|{r[6]:.2e}|{r[7]:.1f}")
print("sqlite> .quit")
