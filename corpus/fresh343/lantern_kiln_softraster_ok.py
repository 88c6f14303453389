"""Fit a deformable grid mesh to multi-view silhouettes + depth of a kiln dome.

Soft (SoftRas-style) differentiable rasterizer in plain MLX, a few pinhole
cameras around the object, per-vertex offsets optimized with Adam.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

H = W = 32
ZNEAR = 0.1


class Camera:
    def __init__(self, yaw, pitch, dist=3.0, focal=40.0):
        cy, sy = math.cos(yaw), math.sin(yaw)
        cp, sp = math.cos(pitch), math.sin(pitch)
        ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]], dtype=np.float32)
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]], dtype=np.float32)
        self.R = mx.array(rx @ ry)
        self.t = mx.array([0.0, 0.0, dist])
        self.focal = focal
        self.height, self.width, self.znear = H, W, ZNEAR

    def project_points(self, verts):
        pc = verts @ self.R.T + self.t
        z = pc[:, 2]
        zs = mx.maximum(z, 1e-4)
        x = self.focal * pc[:, 0] / zs + self.width / 2
        y = -self.focal * pc[:, 1] / zs + self.height / 2
        return mx.stack([x, y], axis=-1), z


def render_mesh_soft(camera, verts, faces_idx, sigma=2e-2, depth_temperature=25.0, eps=1e-8):
    h, w = camera.height, camera.width
    xy, z = camera.project_points(verts)
    tri_xy = xy[faces_idx]
    tz = z[faces_idx]

    valid_verts = tz > camera.znear
    min_z = mx.min(mx.where(valid_verts, tz, mx.full(tz.shape, 1e9)))
    max_inv_depth = 1.0 / mx.maximum(min_z, camera.znear)

    px = mx.arange(w, dtype=mx.float32) + 0.5
    py = mx.arange(h, dtype=mx.float32) + 0.5
    gx = mx.broadcast_to(px[None, :], (h, w))[None]
    gy = mx.broadcast_to(py[:, None], (h, w))[None]

    x0c = tri_xy[:, 0, 0][:, None, None]
    y0c = tri_xy[:, 0, 1][:, None, None]
    x1c = tri_xy[:, 1, 0][:, None, None]
    y1c = tri_xy[:, 1, 1][:, None, None]
    x2c = tri_xy[:, 2, 0][:, None, None]
    y2c = tri_xy[:, 2, 1][:, None, None]

    denom = (y1c - y2c) * (x0c - x2c) + (x2c - x1c) * (y0c - y2c)
    valid_area = mx.abs(denom) > eps
    denom = mx.where(valid_area, denom, mx.ones_like(denom))

    l0 = ((y1c - y2c) * (gx - x2c) + (x2c - x1c) * (gy - y2c)) / denom
    l1 = ((y2c - y0c) * (gx - x2c) + (x0c - x2c) * (gy - y2c)) / denom
    l2 = 1.0 - l0 - l1

    signed_inside = mx.minimum(mx.minimum(l0, l1), l2)
    coverage = mx.sigmoid(signed_inside / sigma)

    z_face = (
        l0 * tz[:, 0][:, None, None]
        + l1 * tz[:, 1][:, None, None]
        + l2 * tz[:, 2][:, None, None]
    )
    in_front = mx.all(tz > camera.znear, axis=-1)[:, None, None]
    coverage = coverage * valid_area * in_front

    inv_depth = 1.0 / mx.maximum(z_face, camera.znear)
    depth_w = mx.exp(mx.minimum(depth_temperature * (inv_depth - max_inv_depth), 0.0))
    weights = coverage * depth_w

    sum_w = mx.sum(weights, axis=0)
    sum_wz = mx.sum(weights * z_face, axis=0)
    alpha = 1.0 - mx.exp(-sum_w)
    depth = sum_wz / mx.maximum(sum_w, eps)
    return {"alpha": alpha, "depth": depth}


def grid_mesh(n=7, span=1.6):
    lin = np.linspace(-span / 2, span / 2, n, dtype=np.float32)
    xs, ys = np.meshgrid(lin, lin)
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n, np.float32)], axis=-1)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [[a, c, b], [b, c, d]]
    return verts, np.array(faces, dtype=np.int32)


def neighbours(n):
    nb = np.zeros((n * n, n * n), np.float32)
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < n and 0 <= b < n:
                    nb[i * n + j, a * n + b] = 1.0
    return mx.array(nb / nb.sum(1, keepdims=True))


class MeshOffsets(nn.Module):
    def __init__(self, num_verts):
        super().__init__()
        self.offsets = mx.zeros((num_verts, 3))

    def __call__(self, base):
        return base + self.offsets


def main():
    mx.random.seed(0)
    n = 7
    base_np, faces_np = grid_mesh(n)
    base = mx.array(base_np)
    faces = mx.array(faces_np)
    r2 = base_np[:, 0] ** 2 + base_np[:, 1] ** 2
    target_np = base_np.copy()
    target_np[:, 2] = -0.9 * np.exp(-r2 / 0.35)   # dome bulging toward the cameras
    target_np[:, 0] *= 0.85
    target = mx.array(target_np)

    cams = [Camera(yaw, pitch) for yaw, pitch in ((0.0, 0.0), (0.35, 0.1), (-0.35, -0.1), (0.0, 0.35))]
    targets = [render_mesh_soft(c, target, faces) for c in cams]
    mx.eval(targets)
    print("target alpha means:", [round(float(t["alpha"].mean()), 4) for t in targets])

    lap = neighbours(n)
    model = MeshOffsets(n * n)
    opt = optim.Adam(learning_rate=1e-2)

    def loss_fn(m):
        v = m(base)
        sil, dep = 0.0, 0.0
        for cam, tgt in zip(cams, targets):
            out = render_mesh_soft(cam, v, faces)
            sil = sil + mx.mean((out["alpha"] - tgt["alpha"]) ** 2)
            mask = tgt["alpha"] > 0.5
            dep = dep + mx.sum(mx.where(mask, (out["depth"] - tgt["depth"]) ** 2, 0.0)) / mx.maximum(mask.sum(), 1)
        smooth = mx.mean(mx.sum((v - lap @ v) ** 2, axis=-1))
        return sil + 0.5 * dep + 0.1 * smooth, (sil, dep)

    vg = nn.value_and_grad(model, lambda m: loss_fn(m)[0])
    t0 = time.time()
    for step in range(1, 301):
        loss, grads = vg(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 25 == 0:
            _, (sil, dep) = loss_fn(model)
            err = mx.sqrt(mx.mean(mx.sum((model(base) - target) ** 2, -1)))
            print(f"step {step:4d} | loss {loss.item():.5f} | silhouette {sil.item():.5f} "
                  f"| depth {dep.item():.5f} | vertex rmse {err.item():.4f} | {time.time() - t0:.1f}s")
    err = mx.sqrt(mx.mean(mx.sum((model(base) - target) ** 2, -1))).item()
    start = mx.sqrt(mx.mean(mx.sum((base - target) ** 2, -1))).item()
    print(f"final vertex rmse {err:.4f} (flat start {start:.4f})")


if __name__ == "__main__":
    main()
