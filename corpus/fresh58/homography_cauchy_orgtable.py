"""Robust planar homography fit from noisy point matches with gross outliers.

Eight homography entries (h33 fixed to 1) live in one raw mx.array attribute.
Coordinates are Hartley-normalised before fitting; the loss is the Cauchy
(Lorentzian) robust loss of the reprojection residual in pixels, so the 25%
outliers barely pull on the fit. Progress is printed as an Emacs org-mode table.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N, OUTLIER_FRAC, NOISE_PX, C_PX = 20000, 0.25, 0.8, 2.0

H_true = np.array([[0.92, -0.18, 41.0],
                   [0.11, 1.07, -23.0],
                   [2.1e-4, -1.4e-4, 1.0]])


def project(H, pts):
    ph = np.c_[pts, np.ones(len(pts))] @ H.T
    return ph[:, :2] / ph[:, 2:3]


src = rng.uniform([0, 0], [640, 480], size=(N, 2))
dst = project(H_true, src) + rng.normal(0, NOISE_PX, size=(N, 2))
n_out = int(OUTLIER_FRAC * N)
out_idx = rng.choice(N, n_out, replace=False)
dst[out_idx] = rng.uniform([0, 0], [640, 480], size=(n_out, 2))
inlier = np.ones(N, bool)
inlier[out_idx] = False


def hartley(pts):
    m = pts.mean(0)
    s = np.sqrt(2) / np.mean(np.linalg.norm(pts - m, axis=1))
    return np.array([[s, 0, -s * m[0]], [0, s, -s * m[1]], [0, 0, 1.0]])


Ts, Td = hartley(src), hartley(dst)
src_n = (np.c_[src, np.ones(N)] @ Ts.T)[:, :2]
Td_inv = np.linalg.inv(Td)


class Homography(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = mx.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])

    def matrix(self):
        return mx.concatenate([self.h, mx.array([1.0])]).reshape(3, 3)

    def __call__(self, pts_n):
        # map normalised source points, then undo the destination normalisation
        Hn = self.matrix()
        ph = mx.concatenate([pts_n, mx.ones((pts_n.shape[0], 1))], axis=1) @ Hn.T
        pn = ph[:, :2] / ph[:, 2:3]
        pd = mx.concatenate([pn, mx.ones((pn.shape[0], 1))], axis=1) @ mx.array(Td_inv, dtype=mx.float32).T
        return pd[:, :2] / pd[:, 2:3]


X = mx.array(src_n, dtype=mx.float32)
Y = mx.array(dst, dtype=mx.float32)
inlier_idx = mx.array(np.nonzero(inlier)[0])


def cauchy_loss(model, x, y):
    r2 = ((model(x) - y) ** 2).sum(axis=1)
    return (C_PX ** 2 / 2 * mx.log1p(r2 / C_PX ** 2)).mean()


def full_H(model):
    Hn = np.array(model.matrix())
    H = Td_inv @ Hn @ Ts
    return H / H[2, 2]


model = Homography()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, cauchy_loss)

# gradient sanity check before training: every leaf must get a signal
_, g0 = loss_and_grad(model, X, Y)
for name, g in tree_flatten(g0):
    assert float(mx.abs(g).max()) > 0, name

sched = optim.exponential_decay(3e-2, 0.997)
opt = optim.Adam(learning_rate=sched)

print("#+TITLE: robust homography fit (Cauchy, c=%.1f px, %d%% outliers)" % (C_PX, 100 * OUTLIER_FRAC))
print("| step | cauchy loss | inlier rmse px | median px all | rel. H error |")
print("|------+-------------+----------------+---------------+--------------|")
for step in range(1, 2401):
    loss, grads = loss_and_grad(model, X, Y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 50) or step % 200 == 0:
        res = mx.sqrt(((model(X) - Y) ** 2).sum(axis=1))
        rmse_in = float(mx.sqrt((res[inlier_idx] ** 2).mean()))
        med = float(np.median(np.array(res)))
        Hhat = full_H(model)
        herr = np.linalg.norm(Hhat - H_true) / np.linalg.norm(H_true)
        print(f"| {step:4d} | {loss.item():11.4f} | {rmse_in:14.3f} | {med:13.3f} | {herr:12.2e} |")
print("|------+-------------+----------------+---------------+--------------|")
print(f"# noise floor: inlier rmse should approach sqrt(2)*{NOISE_PX} = {np.sqrt(2) * NOISE_PX:.3f} px")
