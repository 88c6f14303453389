"""Flatland NeRF: a 2-D radiance field (density + grey colour over the plane)
learned from 1-D 'images' taken by pinhole cameras on a circle around the scene.
Rays are rendered with the usual alpha compositing, coarse samples only.
"""
import math
import time
from copy import deepcopy

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

RNG = np.random.default_rng(7)
N_FREQ = 5
N_SAMPLES = 24
NEAR, FAR = 0.5, 3.5


# ---------------------------------------------------------------- scene
def gt_field(p):
    """Ground truth: two soft discs (one bright, one dark) and a bar."""
    x, y = p[..., 0], p[..., 1]
    d1 = np.exp(-((x - 0.35) ** 2 + (y - 0.2) ** 2) / 0.03) * 12
    d2 = np.exp(-((x + 0.3) ** 2 + (y + 0.25) ** 2) / 0.05) * 10
    d3 = (np.abs(x) < 0.5) * (np.abs(y - 0.55) < 0.06) * 14.0
    sigma = d1 + d2 + d3
    col = (d1 * 0.95 + d2 * 0.15 + d3 * 0.6) / (sigma + 1e-6)
    return sigma, col


def gt_render(o, d, n=256):
    t = np.linspace(NEAR, FAR, n)
    pts = o[:, None, :] + d[:, None, :] * t[None, :, None]
    sigma, col = gt_field(pts)
    delta = (FAR - NEAR) / n
    alpha = 1 - np.exp(-sigma * delta)
    trans = np.cumprod(np.concatenate([np.ones_like(alpha[:, :1]), 1 - alpha[:, :-1] + 1e-10], 1), 1)
    w = alpha * trans
    return (w * col).sum(1)


def camera_rays(theta, n_pix=48, fov=0.9):
    o = np.array([2.0 * math.cos(theta), 2.0 * math.sin(theta)])
    fwd = -o / np.linalg.norm(o)
    right = np.array([-fwd[1], fwd[0]])
    s = np.linspace(-math.tan(fov / 2), math.tan(fov / 2), n_pix)
    d = fwd[None, :] + s[:, None] * right[None, :]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.repeat(o[None, :], n_pix, 0), d


def build_views(thetas):
    os_, ds_, cs_ = [], [], []
    for th in thetas:
        o, d = camera_rays(th)
        os_.append(o); ds_.append(d); cs_.append(gt_render(o, d))
    return (np.concatenate(os_).astype(np.float32), np.concatenate(ds_).astype(np.float32),
            np.concatenate(cs_).astype(np.float32))


# ---------------------------------------------------------------- model
def embed(x):
    out = [x]
    for k in range(N_FREQ):
        out += [mx.sin((2.0 ** k) * math.pi * x), mx.cos((2.0 ** k) * math.pi * x)]
    return mx.concatenate(out, axis=-1)


class NeRF2D(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        c_in = 2 + 4 * N_FREQ
        self.layers = [nn.Linear(c_in, width), nn.Linear(width, width), nn.Linear(width, width)]
        self.out = nn.Linear(width, 2)

    def __call__(self, x):
        h = embed(x)
        for l in self.layers:
            h = nn.relu(l(h))
        raw = self.out(h)
        return nn.softplus(raw[..., 0] - 1.0), mx.sigmoid(raw[..., 1])


def network_query_fn(pts, network_fn):
    return network_fn(pts)


def render_rays(o, d, network_query_fn, network_fn, N_samples, perturb, raw_noise_std):
    t = mx.linspace(NEAR, FAR, N_samples)[None, :]
    t = mx.broadcast_to(t, (o.shape[0], N_samples))
    if perturb > 0:
        t = t + (mx.random.uniform(shape=t.shape) - 0.5) * ((FAR - NEAR) / N_samples)
    pts = o[:, None, :] + d[:, None, :] * t[..., None]
    sigma, col = network_query_fn(pts, network_fn)
    if raw_noise_std > 0:
        sigma = nn.relu(sigma + mx.random.normal(sigma.shape) * raw_noise_std)
    delta = (FAR - NEAR) / N_samples
    alpha = 1 - mx.exp(-sigma * delta)
    trans = mx.cumprod(mx.concatenate([mx.ones_like(alpha[:, :1]), 1 - alpha[:, :-1] + 1e-10], 1), axis=1)
    return (alpha * trans * col).sum(axis=1)


def create_nerf():
    model = NeRF2D()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=3e-3, betas=(0.9, 0.999))
    render_kwargs_train = {
        "network_query_fn": network_query_fn,
        "network_fn": model,
        "N_samples": N_SAMPLES,
        "perturb": 1.0,
        "raw_noise_std": 0.0,
    }
    # NOTE: test arguments
    render_kwargs_test = render_kwargs_train
    render_kwargs_test["perturb"] = False
    render_kwargs_test["raw_noise_std"] = 0
    return render_kwargs_train, render_kwargs_test, optimizer


def psnr(pred, target):
    mse = mx.mean((pred - target) ** 2).item()
    return -10.0 * math.log10(mse)


def main():
    mx.random.seed(0)
    train_thetas = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    test_thetas = train_thetas[:6] + math.pi / 24
    o_tr, d_tr, c_tr = (mx.array(a) for a in build_views(train_thetas))
    o_te, d_te, c_te = (mx.array(a) for a in build_views(test_thetas))

    kw_train, kw_test, optimizer = create_nerf()
    model = kw_train["network_fn"]

    def loss_fn(model, o, d, c):
        rgb = render_rays(o, d, **{**kw_train, "network_fn": model})
        return mx.mean((rgb - c) ** 2)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    n_rays, bs, t0 = o_tr.shape[0], 128, time.time()
    print(f"[flatland] {n_rays} training rays from {len(train_thetas)} cameras, "
          f"{o_te.shape[0]} held-out rays")
    for it in range(1, 401):
        idx = mx.array(RNG.integers(0, n_rays, bs))
        loss, grads = loss_and_grad(model, o_tr[idx], d_tr[idx], c_tr[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if it % 50 == 0:
            rgb_te = render_rays(o_te, d_te, **kw_test)
            print(f"[TRAIN] Iter: {it:4d}  Loss: {loss.item():.5f}  PSNR(train batch): "
                  f"{-10 * math.log10(loss.item()):.2f}  |  [TEST] PSNR: {psnr(rgb_te, c_te):.2f}  "
                  f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
