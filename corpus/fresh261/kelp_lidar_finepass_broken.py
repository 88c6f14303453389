"""Tiny NeRF on a synthetic two-blob volume: coarse + fine networks with hierarchical sampling."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as onp

onp.random.seed(7)
mx.random.seed(7)

H = W = 16
FOCAL = 20.0
NEAR, FAR = 2.0, 6.0
N_SAMPLES = 16
N_IMPORTANCE = 16
N_RAND = 128
N_ITERS = 250
FINE_FROM = 50
L_FREQ = 4

CENTERS = onp.array([[0.45, 0.0, 0.0], [-0.5, 0.25, 0.1]], dtype=onp.float32)
COLORS = onp.array([[0.9, 0.3, 0.1], [0.1, 0.5, 0.9]], dtype=onp.float32)


def scene(p):
    d = ((p[..., None, :] - CENTERS) ** 2).sum(-1)  # [..., 2]
    dens = 12.0 * onp.exp(-d / (2 * 0.28 ** 2))
    sigma = dens.sum(-1)
    rgb = (dens[..., None] * COLORS).sum(-2) / (sigma[..., None] + 1e-6)
    return sigma, rgb


def render_gt(rays_o, rays_d, n=256):
    z = onp.linspace(NEAR, FAR, n, dtype=onp.float32)
    pts = rays_o[:, None, :] + rays_d[:, None, :] * z[None, :, None]
    sigma, rgb = scene(pts)
    dists = onp.concatenate([onp.diff(z), [1e10]]).astype(onp.float32)
    dists = dists[None, :] * onp.linalg.norm(rays_d, axis=-1, keepdims=True)
    alpha = 1.0 - onp.exp(-sigma * dists)
    trans = onp.cumprod(onp.concatenate([onp.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], -1), -1)[:, :-1]
    w = alpha * trans
    return (w[..., None] * rgb).sum(1) + (1.0 - w.sum(1, keepdims=True))  # white background


def pose(angle, elev=0.3, radius=4.0):
    cam = onp.array([radius * onp.cos(angle) * onp.cos(elev), radius * onp.sin(angle) * onp.cos(elev), radius * onp.sin(elev)])
    fwd = -cam / onp.linalg.norm(cam)
    right = onp.cross(fwd, [0.0, 0.0, 1.0]); right /= onp.linalg.norm(right)
    up = onp.cross(right, fwd)
    return onp.stack([right, up, -fwd], 1).astype(onp.float32), cam.astype(onp.float32)


def get_rays(R, t):
    i, j = onp.meshgrid(onp.arange(W), onp.arange(H), indexing="xy")
    dirs = onp.stack([(i - 0.5 * W) / FOCAL, -(j - 0.5 * H) / FOCAL, -onp.ones_like(i)], -1).astype(onp.float32)
    rays_d = dirs @ R.T
    rays_o = onp.broadcast_to(t, rays_d.shape)
    return rays_o.reshape(-1, 3), rays_d.reshape(-1, 3)


angles = onp.linspace(0, 2 * onp.pi, 14, endpoint=False)
all_o, all_d, all_c = [], [], []
for a in angles:
    o, d = get_rays(*pose(a))
    all_o.append(o); all_d.append(d); all_c.append(render_gt(o, d).astype(onp.float32))
test_ids = [3, 10]
train_ids = [k for k in range(len(angles)) if k not in test_ids]
tr_o = onp.concatenate([all_o[k] for k in train_ids]); tr_d = onp.concatenate([all_d[k] for k in train_ids])
tr_c = onp.concatenate([all_c[k] for k in train_ids])
print(f"scene: {len(train_ids)} train views, {len(test_ids)} test views, {H}x{W} px, {tr_o.shape[0]} train rays")


def embed(x):
    out = [x]
    for k in range(L_FREQ):
        out += [mx.sin((2.0 ** k) * x), mx.cos((2.0 ** k) * x)]
    return mx.concatenate(out, axis=-1)


class TinyNeRF(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(3 + 6 * L_FREQ, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.out = nn.Linear(width, 4)

    def __call__(self, pts):
        h = nn.relu(self.l1(embed(pts)))
        h = nn.relu(self.l2(h))
        h = nn.relu(self.l3(h))
        return self.out(h)


def raw2outputs(raw, z_vals, rays_d):
    dists = z_vals[..., 1:] - z_vals[..., :-1]
    dists = mx.concatenate([dists, mx.full(dists[..., :1].shape, 1e10)], axis=-1)
    dists = dists * mx.linalg.norm(rays_d[..., None, :], axis=-1)
    rgb = mx.sigmoid(raw[..., :3])
    alpha = 1.0 - mx.exp(-nn.softplus(raw[..., 3]) * dists)
    trans = mx.cumprod(mx.concatenate([mx.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-10], axis=-1), axis=-1)[..., :-1]
    weights = alpha * trans
    rgb_map = mx.sum(weights[..., None] * rgb, axis=-2)
    rgb_map = rgb_map + (1.0 - mx.sum(weights, axis=-1, keepdims=True))
    return rgb_map, weights


def sample_pdf(bins, weights, n):
    weights = weights + 1e-5
    pdf = weights / weights.sum(-1, keepdims=True)
    cdf = onp.concatenate([onp.zeros_like(pdf[..., :1]), onp.cumsum(pdf, -1)], -1)
    u = onp.random.rand(cdf.shape[0], n).astype(onp.float32)
    idx = (u[..., None] >= cdf[:, None, :]).sum(-1)
    below = onp.clip(idx - 1, 0, cdf.shape[1] - 1)
    above = onp.clip(idx, 0, cdf.shape[1] - 1)
    c0 = onp.take_along_axis(cdf, below, 1); c1 = onp.take_along_axis(cdf, above, 1)
    b0 = onp.take_along_axis(bins, below, 1); b1 = onp.take_along_axis(bins, above, 1)
    denom = onp.where(c1 - c0 < 1e-5, 1.0, c1 - c0)
    return (b0 + (u - c0) / denom * (b1 - b0)).astype(onp.float32)


def stratified_z(n_rays):
    t = mx.linspace(0.0, 1.0, N_SAMPLES + 1)
    lower = NEAR + (FAR - NEAR) * t[:-1]
    upper = NEAR + (FAR - NEAR) * t[1:]
    u = mx.random.uniform(shape=(n_rays, N_SAMPLES))
    return lower + (upper - lower) * u


def mse(a, b):
    return mx.mean((a - b) ** 2)


def psnr(m):
    return -10.0 * onp.log10(max(float(m), 1e-10))


model = TinyNeRF()
model_fine = TinyNeRF()
mx.eval(model.parameters(), model_fine.parameters())
optimizer = optim.Adam(learning_rate=5e-3)
optimizer_fine = optim.Adam(learning_rate=5e-3)


def loss_coarse(m, pts, z_vals, rays_d, target):
    rgb, _ = raw2outputs(m(pts), z_vals, rays_d)
    return mse(rgb, target)


def loss_fine(m, pts, z_vals, rays_d, target):
    rgb, _ = raw2outputs(m(pts), z_vals, rays_d)
    return mse(rgb, target)


grad_coarse = nn.value_and_grad(model, loss_coarse)
grad_fine = nn.value_and_grad(model_fine, loss_fine)


def render_view(o, d):
    o, d = mx.array(o), mx.array(d)
    t = mx.linspace(NEAR, FAR, N_SAMPLES)
    z_vals = mx.broadcast_to(t, (o.shape[0], N_SAMPLES))
    pts = o[..., None, :] + d[..., None, :] * z_vals[..., :, None]
    rgb_c, weights = raw2outputs(model(pts), z_vals, d)
    mids = onp.array(0.5 * (z_vals[..., 1:] + z_vals[..., :-1]))
    z_imp = mx.array(sample_pdf(mids, onp.array(weights[..., 1:-1]), N_IMPORTANCE))
    z_all = mx.sort(mx.concatenate([z_vals, z_imp], axis=-1), axis=-1)
    pts_f = o[..., None, :] + d[..., None, :] * z_all[..., :, None]
    rgb_f, _ = raw2outputs(model_fine(pts_f), z_all, d)
    return rgb_c, rgb_f


print(f"coarse samples {N_SAMPLES}, importance samples {N_IMPORTANCE}, fine network from iter {FINE_FROM + 1}")
t0 = time.time()
loss_f = None
for i in range(1, N_ITERS + 1):
    choice = onp.random.choice(tr_o.shape[0], size=N_RAND, replace=False)
    rays_o = mx.array(tr_o[choice]); rays_d = mx.array(tr_d[choice])
    target_selected = mx.array(tr_c[choice])

    z_vals = stratified_z(N_RAND)
    pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]
    loss, grads = grad_coarse(model, pts, z_vals, rays_d, target_selected)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)

    if i > FINE_FROM:
        _, weights = raw2outputs(model(pts), z_vals, rays_d)
        mids = onp.array(0.5 * (z_vals[..., 1:] + z_vals[..., :-1]))
        z_importance_samples = mx.array(sample_pdf(mids, onp.array(mx.stop_gradient(weights)[..., 1:-1]), N_IMPORTANCE))

        z_vals = mx.sort(mx.concatenate([z_vals, z_importance_samples], axis=-1), axis=-1)
        pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[... :, None]

        loss_f, grads_f = grad_fine(model_fine, pts, z_vals, rays_d, target_selected)
        optimizer_fine.update(model_fine, grads_f)
        mx.eval(model_fine.parameters(), optimizer_fine.state, loss_f)

    if i % 25 == 0 or i == 1:
        lf = "   -   " if loss_f is None else f"{loss_f.item():.5f}"
        pf = "  -  " if loss_f is None else f"{psnr(loss_f.item()):5.2f}"
        print(f"iter {i:4d} | loss_coarse {loss.item():.5f} psnr {psnr(loss.item()):5.2f} | loss_fine {lf} psnr {pf} | {time.time() - t0:5.1f}s")

for k in test_ids:
    rgb_c, rgb_f = render_view(all_o[k], all_d[k])
    gt = mx.array(all_c[k])
    print(f"test view {k:2d}: psnr coarse {psnr(mse(rgb_c, gt).item()):5.2f} dB | psnr fine {psnr(mse(rgb_f, gt).item()):5.2f} dB")
print(f"done in {time.time() - t0:.1f}s")
