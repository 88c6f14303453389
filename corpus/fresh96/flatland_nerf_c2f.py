"""Flatland NeRF: a 2-D radiance field learned from 1-D pictures.

A made-up 2-D scene (three soft coloured discs) is photographed by 24 pinhole cameras
standing on a circle around it; every picture is one row of 32 RGB pixels.  A small MLP
maps a 2-D point (through a sinusoidal positional encoding) to a density and a colour,
and pictures are rendered by alpha-compositing samples along each pixel's ray.
20 cameras are used for training, 4 are held out to measure novel-view PSNR (dB,
higher is better).

The positional encoding is annealed coarse-to-fine (BARF style): the frequency bands
are switched on one after another over the first 60 % of the steps, so at the start
only the raw coordinates reach the MLP (the first layer's weights for the high bands
get no gradient until their band opens, by design).  Stratified jitter of the ray
samples makes every training loss noisy.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FREQ = 6
N_CAMS = 24
N_PIX = 32
FOV = math.radians(50.0)
NEAR, FAR = 1.0, 4.0
CAM_R = 2.5
STEPS = 500
BATCH_RAYS = 128
N_SAMPLES = 32

DISCS = [  # centre x, centre y, radius, rgb
    (-0.45, 0.25, 0.35, (0.9, 0.2, 0.15)),
    (0.40, 0.30, 0.25, (0.15, 0.7, 0.25)),
    (0.05, -0.45, 0.30, (0.2, 0.3, 0.9)),
]


def true_field(p):
    """Ground-truth density and colour at points p (..., 2), numpy."""
    occ = []
    for cx, cy, r, _ in DISCS:
        d = np.sqrt((p[..., 0] - cx) ** 2 + (p[..., 1] - cy) ** 2)
        occ.append(1.0 / (1.0 + np.exp(-(r - d) / 0.02)))
    occ = np.stack(occ, axis=-1)
    sigma = 25.0 * occ.sum(-1)
    cols = np.array([c for *_, c in DISCS])
    w = occ / (occ.sum(-1, keepdims=True) + 1e-6)
    rgb = w @ cols
    return sigma, rgb


def camera_rays(k):
    ang = 2.0 * math.pi * k / N_CAMS
    origin = np.array([CAM_R * math.cos(ang), CAM_R * math.sin(ang)])
    look = -origin / np.linalg.norm(origin)
    offs = np.linspace(-FOV / 2, FOV / 2, N_PIX)
    c, s = np.cos(offs), np.sin(offs)
    dirs = np.stack([c * look[0] - s * look[1], s * look[0] + c * look[1]], axis=1)
    return np.repeat(origin[None], N_PIX, 0), dirs


def render_np(o, d, n=512):
    t = np.linspace(NEAR, FAR, n)
    pts = o[:, None, :] + t[None, :, None] * d[:, None, :]
    sigma, rgb = true_field(pts)
    delta = np.full_like(t, (FAR - NEAR) / n)
    sd = sigma * delta[None]
    trans = np.exp(-np.concatenate([np.zeros((len(o), 1)), np.cumsum(sd, 1)[:, :-1]], 1))
    w = trans * (1.0 - np.exp(-sd))
    return (w[..., None] * rgb).sum(1)


class RadianceField(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        in_dim = 2 + 4 * N_FREQ
        self.l1 = nn.Linear(in_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 4)
        self._freqs = (2.0 ** mx.arange(N_FREQ)) * math.pi   # constant, not trained

    def encode(self, p, alpha):
        # p (..., 2); band k weighted by (1 - cos(pi * clip(alpha - k, 0, 1))) / 2
        k = mx.arange(N_FREQ).astype(mx.float32)
        wk = 0.5 * (1.0 - mx.cos(math.pi * mx.clip(alpha - k, 0.0, 1.0)))
        xp = p[..., None, :] * self._freqs[:, None]               # (..., F, 2)
        s = mx.sin(xp) * wk[:, None]
        c = mx.cos(xp) * wk[:, None]
        flat = mx.concatenate([s, c], axis=-1).reshape(*p.shape[:-1], 4 * N_FREQ)
        return mx.concatenate([p, flat], axis=-1)

    def __call__(self, p, alpha):
        h = nn.relu(self.l1(self.encode(p, alpha)))
        h = nn.relu(self.l2(h))
        o = self.head(h)
        sigma = nn.softplus(o[..., 0] - 1.0)
        rgb = mx.sigmoid(o[..., 1:])
        return sigma, rgb


def render(model, o, d, alpha, n, jitter):
    edges = mx.linspace(NEAR, FAR, n + 1)
    lo, width = edges[:-1], (FAR - NEAR) / n
    if jitter:
        t = lo[None, :] + width * mx.random.uniform(shape=(o.shape[0], n))
    else:
        t = mx.broadcast_to(lo[None, :] + 0.5 * width, (o.shape[0], n))
    pts = o[:, None, :] + t[..., None] * d[:, None, :]
    sigma, rgb = model(pts, alpha)
    sd = sigma * width
    trans = mx.exp(-mx.cumsum(sd, axis=1, inclusive=False))
    w = trans * (1.0 - mx.exp(-sd))
    return (w[..., None] * rgb).sum(axis=1)


def psnr(mse):
    return -10.0 * math.log10(max(mse, 1e-10))


def main():
    t0 = time.time()
    mx.random.seed(0)
    rng = np.random.default_rng(1)
    val_cams = [3, 9, 15, 21]
    train_cams = [k for k in range(N_CAMS) if k not in val_cams]

    def gather(cams):
        os_, ds_, cs_ = [], [], []
        for k in cams:
            o, d = camera_rays(k)
            os_.append(o)
            ds_.append(d)
            cs_.append(render_np(o, d))
        return (mx.array(np.concatenate(os_).astype(np.float32)),
                mx.array(np.concatenate(ds_).astype(np.float32)),
                mx.array(np.concatenate(cs_).astype(np.float32)))

    o_tr, d_tr, c_tr = gather(train_cams)
    o_va, d_va, c_va = gather(val_cams)
    n_rays = o_tr.shape[0]
    print(f"scene: {len(DISCS)} discs | train rays {n_rays} from {len(train_cams)} cameras | "
          f"held-out rays {o_va.shape[0]} from {len(val_cams)} cameras")
    print(f"black-picture baseline: val psnr {psnr(float((c_va ** 2).mean())):.2f} dB")

    model = RadianceField()
    mx.eval(model.parameters())
    sched = optim.exponential_decay(5e-3, 0.996)
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(model, o, d, c, alpha):
        pred = render(model, o, d, alpha, N_SAMPLES, jitter=True)
        return ((pred - c) ** 2).mean()

    grad_fn = nn.value_and_grad(model, loss_fn)

    # gradient audit with every band open, then at the real start (alpha = 0)
    idx = mx.array(rng.choice(n_rays, BATCH_RAYS, replace=False))
    for a in (float(N_FREQ), 0.0):
        _, g = grad_fn(model, o_tr[idx], d_tr[idx], c_tr[idx], mx.array(a))
        flat = tree_flatten(g)
        zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
        band_cols = float(mx.abs(g["l1"]["weight"][:, 2:]).max())
        print(f"grad audit (c2f alpha={a:.0f}): {len(flat)} leaves, all-zero leaves: "
              f"{zero if zero else 'none'}, max |dL/dW1| on band columns {band_cols:.2e}")

    anneal_end = int(0.6 * STEPS)
    window = []
    for step in range(1, STEPS + 1):
        alpha = N_FREQ * min(1.0, (step - 1) / anneal_end)
        idx = mx.array(rng.choice(n_rays, BATCH_RAYS, replace=False))
        loss, grads = grad_fn(model, o_tr[idx], d_tr[idx], c_tr[idx], mx.array(alpha))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1 or step % 50 == 0:
            a = mx.array(alpha)
            va = render(model, o_va, d_va, a, 64, jitter=False)
            tr = render(model, o_tr, d_tr, a, 64, jitter=False)
            v_mse = float(((va - c_va) ** 2).mean())
            t_mse = float(((tr - c_tr) ** 2).mean())
            print(f"step {step:04d}/{STEPS} | bands open {alpha:4.2f}/{N_FREQ} | "
                  f"lr {float(opt.learning_rate):.2e} | jittered loss {np.mean(window):.5f} | "
                  f"train psnr {psnr(t_mse):5.2f} dB | novel-view psnr {psnr(v_mse):5.2f} dB | "
                  f"{time.time() - t0:5.1f}s")
            window = []
    print(f"finished {STEPS} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
