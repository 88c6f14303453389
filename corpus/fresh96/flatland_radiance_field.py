"""A 2-D toy radiance field ("flatland NeRF").

Two coloured discs float in the plane.  Pinhole cameras on a ring look at the
origin and record a 1-D strip of RGB pixels.  A small MLP maps a 2-D point to a
density and a colour; pixels are rendered with emission-absorption quadrature
along each ray.  Density uses the "truncated exponential" activation from
Instant-NGP: exp() forward, but the backward pass clamps the exponent so one hot
sample cannot blow the gradient up.  High positional-encoding frequencies are
faded in coarse-to-fine (BARF-style window), and the learning rate warms up
from zero.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 3
N_TRAIN_VIEWS = 20
N_TEST_VIEWS = 4
N_PIX = 32
N_SAMPLES = 24
NEAR, FAR = 1.3, 3.7
CAM_RADIUS = 2.5
FOV = math.radians(50)
N_FREQ = 6
ITERS = 500
RAYS_PER_BATCH = 128
REPORT_EVERY = 50
WINDOW_END = 0.45  # fraction of training after which all frequencies are on

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

DISCS = [  # centre x, centre y, radius, density, rgb
    (-0.30, 0.20, 0.35, 9.0, (0.95, 0.25, 0.20)),
    (0.35, -0.25, 0.25, 14.0, (0.20, 0.45, 0.95)),
    (0.10, 0.45, 0.12, 20.0, (0.30, 0.90, 0.35)),
]


def scene_np(pts):
    """Ground-truth density and colour at points (..., 2)."""
    sigma = np.zeros(pts.shape[:-1], dtype=np.float32)
    rgb = np.zeros(pts.shape[:-1] + (3,), dtype=np.float32)
    for cx, cy, r, dens, col in DISCS:
        d = np.sqrt((pts[..., 0] - cx) ** 2 + (pts[..., 1] - cy) ** 2)
        inside = 1.0 / (1.0 + np.exp((d - r) / 0.02))  # soft edge
        s = dens * inside
        rgb += s[..., None] * np.array(col, dtype=np.float32)
        sigma += s
    rgb = rgb / np.maximum(sigma[..., None], 1e-6)
    return sigma, rgb


def camera_rays(angle):
    origin = CAM_RADIUS * np.array([math.cos(angle), math.sin(angle)])
    forward = -origin / np.linalg.norm(origin)
    right = np.array([-forward[1], forward[0]])
    offs = np.tan(FOV / 2) * np.linspace(-1, 1, N_PIX)
    dirs = forward[None, :] + offs[:, None] * right[None, :]
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return np.repeat(origin[None, :], N_PIX, 0), dirs


def render_np(origins, dirs, n=512):
    t = np.linspace(NEAR, FAR, n + 1)
    mid = 0.5 * (t[1:] + t[:-1])
    delta = t[1:] - t[:-1]
    pts = origins[:, None, :] + mid[None, :, None] * dirs[:, None, :]
    sigma, rgb = scene_np(pts)
    tau = sigma * delta[None, :]
    trans = np.exp(-np.concatenate([np.zeros((len(origins), 1)), np.cumsum(tau, 1)[:, :-1]], 1))
    w = trans * (1 - np.exp(-tau))
    return (w[..., None] * rgb).sum(1).astype(np.float32)


def build_views(angles):
    O, D, C = [], [], []
    for a in angles:
        o, d = camera_rays(a)
        O.append(o)
        D.append(d)
        C.append(render_np(o, d))
    return (np.concatenate(O).astype(np.float32), np.concatenate(D).astype(np.float32),
            np.concatenate(C).astype(np.float32))


@mx.custom_function
def trunc_exp(x):
    return mx.exp(x)


@trunc_exp.vjp
def trunc_exp_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    return cotangent * mx.exp(mx.clip(x, -15.0, 15.0))


class RadianceField(nn.Module):
    def __init__(self, n_freq=N_FREQ, width=48):
        super().__init__()
        self.n_freq = n_freq
        self._freqs = mx.array([2.0 ** k * math.pi for k in range(n_freq)])
        in_dim = 2 + 2 * 2 * n_freq
        self.l1 = nn.Linear(in_dim, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 4)

    def encode(self, p, alpha):
        # BARF window: band k gets weight (1 - cos(pi * clip(alpha - k, 0, 1))) / 2
        k = mx.arange(self.n_freq).astype(mx.float32)
        w = 0.5 * (1 - mx.cos(math.pi * mx.clip(alpha - k, 0.0, 1.0)))
        ang = p[..., :, None] * self._freqs  # (..., 2, F)
        feats = mx.concatenate([mx.sin(ang) * w, mx.cos(ang) * w], axis=-1)
        feats = feats.reshape(*p.shape[:-1], -1)
        return mx.concatenate([p, feats], axis=-1)

    def __call__(self, p, alpha):
        h = nn.relu(self.l1(self.encode(p, alpha)))
        h = nn.relu(self.l2(h))
        raw = self.out(h)
        sigma = trunc_exp(raw[..., 0] - 1.0)
        rgb = mx.sigmoid(raw[..., 1:])
        return sigma, rgb


def render(model, origins, dirs, alpha, jitter):
    n = origins.shape[0]
    edges = mx.linspace(NEAR, FAR, N_SAMPLES + 1)
    lo, hi = edges[:-1], edges[1:]
    if jitter:
        u = mx.random.uniform(shape=(n, N_SAMPLES))
    else:
        u = mx.full((n, N_SAMPLES), 0.5)
    t = lo + (hi - lo) * u
    delta = mx.broadcast_to(hi - lo, (n, N_SAMPLES))
    pts = origins[:, None, :] + t[..., None] * dirs[:, None, :]
    sigma, rgb = model(pts, alpha)
    tau = sigma * delta
    acc = mx.cumsum(tau, axis=1) - tau  # exclusive cumulative optical depth
    w = mx.exp(-acc) * (1.0 - mx.exp(-tau))
    return (w[..., None] * rgb).sum(axis=1)


def mse_loss(model, o, d, c, alpha):
    return mx.mean((render(model, o, d, alpha, jitter=True) - c) ** 2)


def heldout_mse(model, o, d, c):
    pred = render(model, o, d, float(N_FREQ), jitter=False)
    return mx.mean((pred - c) ** 2).item()


def main():
    t0 = time.perf_counter()
    train_angles = np.linspace(0, 2 * math.pi, N_TRAIN_VIEWS, endpoint=False)
    test_angles = train_angles[:N_TEST_VIEWS] + math.pi / N_TRAIN_VIEWS
    tr_o, tr_d, tr_c = build_views(train_angles)
    te_o, te_d, te_c = build_views(test_angles)
    tr_o, tr_d, tr_c = mx.array(tr_o), mx.array(tr_d), mx.array(tr_c)
    te_o, te_d, te_c = mx.array(te_o), mx.array(te_d), mx.array(te_c)
    n_rays = tr_o.shape[0]
    print(f"scene: {len(DISCS)} discs | {N_TRAIN_VIEWS} train views x {N_PIX} px = {n_rays} rays "
          f"| {N_TEST_VIEWS} held-out views | data prep {time.perf_counter() - t0:.1f}s")

    model = RadianceField()
    mx.eval(model.parameters())
    warm = 60
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.exponential_decay(4e-3, 0.997)], [warm])
    opt = optim.Adam(learning_rate=lr)
    step_fn = nn.value_and_grad(model, mse_loss)

    baseline = mx.mean((te_c - tr_c.mean(axis=0)) ** 2).item()
    header = f"{'iter':>5} {'lr':>9} {'window':>6} {'train_mse':>10} {'heldout_mse':>11} {'s':>5}"
    print(f"held-out mse of predicting the mean colour: {baseline:.5f}")
    print(header)
    print("-" * len(header))
    window_iters = int(WINDOW_END * ITERS)
    run_sum, run_n = 0.0, 0
    for it in range(1, ITERS + 1):
        alpha = N_FREQ * min(1.0, (it - 1) / window_iters)
        idx = mx.array(rng.choice(n_rays, RAYS_PER_BATCH, replace=False))
        loss, grads = step_fn(model, tr_o[idx], tr_d[idx], tr_c[idx], alpha)
        if it == 1:
            for name, g in tree_flatten(grads):
                print(f"  grad check {name:<12} max|g| = {mx.abs(g).max().item():.2e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_sum += loss.item()
        run_n += 1
        if it % REPORT_EVERY == 0 or it == ITERS:
            lr_now = opt.learning_rate.item()
            ho = heldout_mse(model, te_o, te_d, te_c)
            print(f"{it:>5} {lr_now:>9.2e} {alpha:>6.2f} {run_sum / run_n:>10.5f} {ho:>11.5f} "
                  f"{time.perf_counter() - t0:>5.1f}")
            run_sum, run_n = 0.0, 0

    final = heldout_mse(model, te_o, te_d, te_c)
    print(f"final held-out mse {final:.5f} (mean-colour baseline {baseline:.5f}), "
          f"ratio {final / baseline:.4f}")


if __name__ == "__main__":
    main()
