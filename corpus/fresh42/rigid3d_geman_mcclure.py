"""Robust 3-D rigid alignment of two scans with known correspondences, 15% of
which are gross outliers. Rotation as an axis-angle vector (Rodrigues), plus a
translation; Geman-McClure robust loss; Adam.  Progress is drawn as a bar."""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def rodrigues(w):
    theta = mx.sqrt(mx.sum(w * w) + 1e-12)
    k = w / theta
    K = mx.stack([
        mx.stack([mx.array(0.0), -k[2], k[1]]),
        mx.stack([k[2], mx.array(0.0), -k[0]]),
        mx.stack([-k[1], k[0], mx.array(0.0)]),
    ])
    return mx.eye(3) + mx.sin(theta) * K + (1 - mx.cos(theta)) * (K @ K)


class RigidTransform(nn.Module):
    def __init__(self):
        super().__init__()
        self.axis_angle = mx.array([0.01, 0.01, 0.01])
        self.translation = mx.zeros((3,))

    def __call__(self, pts):
        return pts @ rodrigues(self.axis_angle).T + self.translation


def geman_mcclure(res2, c2):
    return mx.mean(res2 / (res2 + c2))


def angle_between(Ra, Rb):
    c = (np.trace(Ra.T @ Rb) - 1) / 2
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def main():
    rng = np.random.default_rng(7)
    n = 40000
    src = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
    axis = np.array([0.3, -0.8, 0.5]); axis /= np.linalg.norm(axis)
    ang = np.radians(140.0)
    Kn = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R_true = np.eye(3) + np.sin(ang) * Kn + (1 - np.cos(ang)) * Kn @ Kn
    t_true = np.array([0.4, -0.2, 0.7])
    dst = src @ R_true.T + t_true + rng.normal(scale=0.01, size=(n, 3))
    bad = rng.random(n) < 0.15
    dst[bad] = rng.uniform(-2, 2, size=(bad.sum(), 3))
    src_m, dst_m = mx.array(src), mx.array(dst.astype(np.float32))

    model = RigidTransform()
    opt = optim.Adam(learning_rate=optim.cosine_decay(0.01, 2400, end=5e-4))

    def loss_fn(m, c2):
        r = m(src_m) - dst_m
        return geman_mcclure(mx.sum(r * r, axis=1), c2)

    vg = nn.value_and_grad(model, loss_fn)
    _, g0 = vg(model, mx.array(0.25))
    for k, v in tree_flatten(g0):
        print(f"grad0 {k:12s} |g|={mx.linalg.norm(v).item():.3e}")

    steps, width = 2400, 30
    t0 = time.time()
    for it in range(1, steps + 1):
        c2 = mx.array(max(0.25 * 0.9975 ** it, 0.002))  # graduated non-convexity
        loss, g = vg(model, c2)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        fixed = None
        if it in (1, 20, 60) or it % 200 == 0:
            fixed = loss_fn(model, mx.array(0.002)).item()  # same scale at every report
            R_hat = np.array(rodrigues(model.axis_angle))
            err = angle_between(R_hat, R_true)
            terr = np.linalg.norm(np.array(model.translation) - t_true)
            filled = int(width * it / steps)
            el = time.time() - t0
            eta = el / it * (steps - it)
            sys.stdout.write(f"[{'#' * filled}{'.' * (width - filled)}] {it:4d}/{steps} "
                             f"gm(c2)={loss.item():.4f} c2={c2.item():.4f} gm@0.002={fixed:.4f} rot_err={err:6.2f}deg "
                             f"t_err={terr:.4f} eta={eta:4.1f}s\n")
    r = np.linalg.norm(np.array(model(src_m)) - dst, axis=1)
    inl = r < 0.05
    print(f"final: rot_err={angle_between(np.array(rodrigues(model.axis_angle)), R_true):.3f}deg "
          f"t_err={np.linalg.norm(np.array(model.translation) - t_true):.4f} "
          f"inliers_found={inl.sum()}/{(~bad).sum()} true inliers, "
          f"outlier_recall={(~inl & bad).sum() / bad.sum():.3f}")


if __name__ == "__main__":
    main()
