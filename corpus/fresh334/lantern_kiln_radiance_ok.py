"""Fit a compact NeRF to six synthetic views of a glowing sphere, then score a held-out view."""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NEAR, FAR = 1.0, 4.0
RES = 32
ITERS = 150
BATCH_RAYS = 128
SAMPLES = 32


def look_at_rays(azim_deg, res, fov=45.0):
    a = math.radians(azim_deg)
    eye = mx.array([2.8 * math.sin(a), 1.0, 2.8 * math.cos(a)])
    fwd = -eye / mx.linalg.norm(eye)
    up = mx.array([0.0, 1.0, 0.0])
    right = mx.linalg.cross(fwd, up)
    right = right / mx.linalg.norm(right)
    true_up = mx.linalg.cross(right, fwd)
    f = 0.5 * res / math.tan(math.radians(fov) / 2)
    js, is_ = mx.meshgrid(mx.arange(res) + 0.5, mx.arange(res) + 0.5, indexing="xy")
    x = (js - res / 2) / f
    y = -(is_ - res / 2) / f
    d = x[..., None] * right + y[..., None] * true_up + fwd
    d = d / mx.linalg.norm(d, axis=-1, keepdims=True)
    o = mx.broadcast_to(eye, d.shape)
    return o.reshape(-1, 3), d.reshape(-1, 3)


def sample_along_rays(origins, directions, near, far, num_samples, stratified=True):
    R = origins.shape[0]
    t = mx.linspace(near, far, num_samples)
    t = mx.broadcast_to(t[None], (R, num_samples))
    if stratified:
        mids = 0.5 * (t[:, 1:] + t[:, :-1])
        upper = mx.concatenate([mids, t[:, -1:]], axis=-1)
        lower = mx.concatenate([t[:, :1], mids], axis=-1)
        u = mx.random.uniform(shape=(R, num_samples))
        t = lower + (upper - lower) * u
    points = origins[:, None, :] + t[..., None] * directions[:, None, :]
    return points, t


def volume_render(densities, colors, t_vals, directions):
    deltas = t_vals[:, 1:] - t_vals[:, :-1]
    deltas = mx.concatenate([deltas, mx.full(deltas[:, :1].shape, 1e10)], axis=-1)
    deltas = deltas * mx.linalg.norm(directions, axis=-1, keepdims=True)
    alpha = 1.0 - mx.exp(-densities * deltas)
    one_minus = mx.clip(1.0 - alpha, 1e-10, 1.0)
    trans = mx.cumprod(one_minus, axis=-1)
    trans = mx.concatenate([mx.ones_like(trans[:, :1]), trans[:, :-1]], axis=-1)
    weights = alpha * trans
    rgb = mx.sum(weights[..., None] * colors, axis=-2)
    return rgb, mx.sum(weights, axis=-1)


class PositionalEncoding(nn.Module):
    def __init__(self, num_freqs):
        super().__init__()
        self._freqs = 2.0 ** mx.arange(num_freqs)

    def __call__(self, x):
        xb = x[..., None] * self._freqs
        enc = mx.concatenate([mx.sin(xb), mx.cos(xb)], axis=-1)
        enc = enc.reshape(*x.shape[:-1], -1)
        return mx.concatenate([x, enc], axis=-1)


class NeRF(nn.Module):
    def __init__(self, pos_freqs=6, dir_freqs=4, hidden_dim=64, num_layers=4, skip_layer=2):
        super().__init__()
        self.pos_enc = PositionalEncoding(pos_freqs)
        self.dir_enc = PositionalEncoding(dir_freqs)
        pos_dim = 3 * (2 * pos_freqs + 1)
        dir_dim = 3 * (2 * dir_freqs + 1)
        self.skip_layer = skip_layer
        layers = []
        in_dim = pos_dim
        for i in range(num_layers):
            if i == skip_layer:
                in_dim += pos_dim
            layers.append(nn.Linear(in_dim, hidden_dim))
            in_dim = hidden_dim
        self.layers = layers
        self.density_head = nn.Linear(hidden_dim, 1)
        self.feature = nn.Linear(hidden_dim, hidden_dim)
        self.color_hidden = nn.Linear(hidden_dim + dir_dim, hidden_dim // 2)
        self.color_head = nn.Linear(hidden_dim // 2, 3)

    def __call__(self, points, directions):
        x = self.pos_enc(points)
        h = x
        for i, layer in enumerate(self.layers):
            if i == self.skip_layer:
                h = mx.concatenate([h, x], axis=-1)
            h = nn.relu(layer(h))
        density = nn.softplus(self.density_head(h)[..., 0])
        feat = self.feature(h)
        d = self.dir_enc(directions)
        ch = nn.relu(self.color_hidden(mx.concatenate([feat, d], axis=-1)))
        rgb = mx.sigmoid(self.color_head(ch))
        return density, rgb


def render_rays(model, origins, directions, stratified=True):
    points, t_vals = sample_along_rays(origins, directions, NEAR, FAR, SAMPLES, stratified)
    view = mx.broadcast_to(directions[:, None, :], points.shape)
    density, rgb = model(points, view)
    return volume_render(density, rgb, t_vals, directions)


def analytic_field(points):
    r = mx.linalg.norm(points, axis=-1)
    density = 30.0 * mx.maximum(0.6 - mx.abs(r - 0.6), 0.0)
    rgb = 0.5 * (points / mx.maximum(r[..., None], 1e-6)) + 0.5
    return density, rgb


def ground_truth(o, d):
    points, t_vals = sample_along_rays(o, d, NEAR, FAR, 96, stratified=False)
    density, rgb = analytic_field(points)
    return volume_render(density, rgb, t_vals, d)[0]


def psnr(pred, target):
    mse = float(mx.mean((pred - target) ** 2))
    return -10.0 * math.log10(max(mse, 1e-12))


def main():
    mx.random.seed(1)
    all_o, all_d, all_c = [], [], []
    for azim in (0.0, 60.0, 120.0, 180.0, 240.0, 300.0):
        o, d = look_at_rays(azim, RES)
        all_o.append(o)
        all_d.append(d)
        all_c.append(ground_truth(o, d))
    origins = mx.concatenate(all_o)
    directions = mx.concatenate(all_d)
    targets = mx.concatenate(all_c)
    n_rays = origins.shape[0]
    print(f"training rays: {n_rays}  views: 6  res: {RES}x{RES}")

    model = NeRF()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=1e-3)

    def loss_fn(model, o, d, c):
        rgb, _ = render_rays(model, o, d)
        return mx.mean((rgb - c) ** 2)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for it in range(ITERS):
        idx = mx.random.randint(0, n_rays, shape=(BATCH_RAYS,))
        loss, grads = loss_and_grad(model, origins[idx], directions[idx], targets[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        if it % 25 == 0 or it == ITERS - 1:
            print(f"iter {it:4d}  loss {float(loss):.5f}  ({time.time() - t0:.1f}s)")

    o, d = look_at_rays(60.0, RES)
    gt = ground_truth(o, d)
    pred, acc = render_rays(model, o, d, stratified=False)
    black = mx.zeros_like(gt)
    print(f"training view 60deg: psnr {psnr(pred, gt):.2f} dB  (all-black baseline {psnr(black, gt):.2f} dB)")
    print(f"mean opacity {float(acc.mean()):.3f}  (target {float(mx.mean(mx.sum(gt, -1) > 0.01)):.3f} of pixels lit)")


if __name__ == "__main__":
    main()
