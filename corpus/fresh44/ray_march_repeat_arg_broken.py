"""Volume-rendering toy: learn a density/colour MLP so that alpha-composited
renders of random rays through a 2-D scene match reference renders."""
import json
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_SAMPLES = 24
NEAR, FAR = 0.0, 2.0


class Field(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.l1 = nn.Linear(2 + 8, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 4)

    def __call__(self, p):
        enc = [p] + [f(k * p) for k in (1.0, 3.0) for f in (mx.sin, mx.cos)]
        h = nn.silu(self.l1(mx.concatenate(enc, axis=-1)))
        h = nn.silu(self.l2(h))
        o = self.out(h)
        return mx.sigmoid(o[..., :3]), nn.softplus(o[..., 3])


def true_field(p):
    d1 = np.exp(-((p[..., 0] - 0.9) ** 2 + (p[..., 1] - 0.2) ** 2) / 0.05) * 6.0
    d2 = np.exp(-((p[..., 0] - 1.3) ** 2 + (p[..., 1] + 0.3) ** 2) / 0.08) * 4.0
    rgb = np.stack([d1 / 6.0, d2 / 4.0, 0.3 * np.ones_like(d1)], axis=-1)
    return rgb, d1 + d2


def raw2outputs(rgb, sigma, z_vals):
    delta_dists = z_vals[..., 1:] - z_vals[..., :-1]
    # the last sample extends to infinity
    DIST_LIMIT = mx.array(1e10)
    DIST_LIMIT = mx.repeat(DIST_LIMIT[None, ...], repeats=z_vals[0], axis=0)
    DIST_LIMIT = mx.expand_dims(DIST_LIMIT, axis=-1)
    delta_dists = mx.concatenate([delta_dists, DIST_LIMIT], axis=-1)
    alpha = 1.0 - mx.exp(-sigma * delta_dists)
    trans = mx.cumprod(1.0 - alpha + 1e-10, axis=-1, reverse=False)
    trans = mx.concatenate([mx.ones_like(trans[..., :1]), trans[..., :-1]], axis=-1)
    weights = alpha * trans
    return mx.sum(weights[..., None] * rgb, axis=-2)


def make_rays(rng, n):
    origin = np.stack([np.zeros(n), rng.uniform(-0.8, 0.8, n)], axis=-1)
    ang = rng.uniform(-0.35, 0.35, n)
    direction = np.stack([np.cos(ang), np.sin(ang)], axis=-1)
    return origin.astype(np.float32), direction.astype(np.float32)


def render_np(o, d, z):
    pts = o[:, None, :] + d[:, None, :] * z[..., None]
    rgb, sigma = true_field(pts)
    delta = np.concatenate([z[:, 1:] - z[:, :-1], np.full((z.shape[0], 1), 1e10)], axis=-1)
    alpha = 1.0 - np.exp(-sigma * delta)
    trans = np.cumprod(np.concatenate([np.ones((z.shape[0], 1)), 1.0 - alpha[:, :-1] + 1e-10], axis=-1), axis=-1)
    return ((alpha * trans)[..., None] * rgb).sum(axis=1).astype(np.float32)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    model = Field()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    z_base = np.linspace(NEAR, FAR, N_SAMPLES, dtype=np.float32)

    def loss_fn(m, o, d, z, target):
        pts = o[:, None, :] + d[:, None, :] * z[..., None]
        rgb, sigma = m(pts)
        pred = raw2outputs(rgb, sigma, z)
        return mx.mean((pred - target) ** 2)

    grad_fn = nn.value_and_grad(model, loss_fn)
    vo, vd = make_rays(rng, 256)
    vz = np.broadcast_to(z_base, (256, N_SAMPLES)).copy()
    vt = mx.array(render_np(vo, vd, vz))
    vo, vd, vz = mx.array(vo), mx.array(vd), mx.array(vz)

    t0 = time.time()
    hist = []
    for it in range(1, 801):
        o, d = make_rays(rng, 128)
        jitter = rng.uniform(0, (FAR - NEAR) / N_SAMPLES, size=(128, N_SAMPLES)).astype(np.float32)
        z = z_base[None, :] + jitter
        target = mx.array(render_np(o, d, z))
        loss, grads = grad_fn(model, mx.array(o), mx.array(d), mx.array(z), target)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        hist.append(loss.item())
        if it == 1 or it % 100 == 0:
            val = loss_fn(model, vo, vd, vz, vt).item()
            print(json.dumps({"iter": it, "train_mse": round(float(np.mean(hist[-100:])), 6),
                              "val_mse": round(val, 6), "elapsed_s": round(time.time() - t0, 2)}))
            sys.stdout.flush()
    print(json.dumps({"event": "finished", "baseline_val_mse_black": round(float(mx.mean(vt ** 2).item()), 6)}))


if __name__ == "__main__":
    main()
