"""Salt-pan survey: a small GAN that learns the joint spread of (brine depth, salinity)
readings from the evaporation ponds, trained in float16 with float32 master weights.

Generator and discriminator each keep their own dynamic loss scale.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

SEED = 7
STEPS = 2000
BATCH = 128
REPORT = 250
NOISE_DIM = 4

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def pond_readings(n, rng):
    # three pond stages: fresh intake, concentrating, crystallising
    centres = np.array([[-1.4, -1.1], [0.2, 0.3], [1.3, 1.5]])
    widths = np.array([[0.25, 0.20], [0.30, 0.25], [0.18, 0.30]])
    share = np.array([0.45, 0.35, 0.20])
    k = rng.choice(3, size=n, p=share)
    x = centres[k] + widths[k] * rng.standard_normal((n, 2))
    return x.astype(np.float32)


train = pond_readings(20000, rng)
held_a = pond_readings(2000, rng)
held_b = pond_readings(2000, rng)

# set random projection directions for a sliced Wasserstein-1 distance
angles = np.linspace(0, math.pi, 16, endpoint=False)
dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def sliced_w1(a, b):
    pa = np.sort(a @ dirs.T, axis=0)
    pb = np.sort(b @ dirs.T, axis=0)
    return float(np.mean(np.abs(pa - pb)))


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NOISE_DIM, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h).squeeze(-1)


class LossScale:
    def __init__(self, init_exp, window):
        self.scale = 2.0 ** init_exp
        self.window = window
        self.clean = 0
        self.skipped = 0

    def unscale(self, grads):
        inv = 1.0 / self.scale
        g32 = tree_map(lambda g: g.astype(mx.float32) * inv, grads)
        flags = mx.stack([mx.all(mx.isfinite(v)) for _, v in tree_flatten(g32)])
        finite = bool(mx.all(flags).item())
        return g32, finite

    def after(self, finite):
        if finite:
            self.clean += 1
            if self.clean >= self.window and self.scale < 2.0 ** 24:
                self.scale *= 2.0
                self.clean = 0
        else:
            self.skipped += 1
            self.scale /= 2.0
            self.clean = 0

    def exp(self):
        return int(round(math.log2(self.scale)))


G32, D32 = Gen(), Disc()
mx.eval(G32.parameters(), D32.parameters())
G16, D16 = Gen(), Disc()
G16.set_dtype(mx.float16)
D16.set_dtype(mx.float16)


def refresh(work, master):
    work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))


opt_g = optim.Adam(learning_rate=optim.cosine_decay(1e-3, STEPS, 1e-4), betas=[0.5, 0.9])
opt_d = optim.Adam(learning_rate=optim.cosine_decay(1e-3, STEPS, 1e-4), betas=[0.5, 0.9])
scale_g = LossScale(init_exp=20, window=200)   # starts high: first attempts overflow
scale_d = LossScale(init_exp=12, window=200)


def bce_logits(logits, target):
    return nn.losses.binary_cross_entropy(logits.astype(mx.float32), target, with_logits=True,
                                          reduction="mean")


def d_loss(x_real, x_fake, s):
    lr_ = D16(x_real.astype(mx.float16))
    lf_ = D16(x_fake.astype(mx.float16))
    loss = bce_logits(lr_, mx.ones(lr_.shape)) + bce_logits(lf_, mx.zeros(lf_.shape))
    return (loss * s).astype(mx.float16), loss


def g_loss(z, s):
    fake = G16(z.astype(mx.float16))
    logits = D16(fake)
    loss = bce_logits(logits, mx.ones(logits.shape))  # non-saturating generator loss
    return (loss * s).astype(mx.float16), loss


d_grad_fn = nn.value_and_grad(D16, lambda xr, xf, s: d_loss(xr, xf, s)[0])
g_grad_fn = nn.value_and_grad(G16, lambda z, s: g_loss(z, s)[0])


def sample_fake(n):
    z = mx.random.normal((n, NOISE_DIM))
    refresh(G16, G32)
    return G16(z.astype(mx.float16)).astype(mx.float32)


floor = sliced_w1(held_a, held_b)
base = sliced_w1(held_a, rng.standard_normal(held_a.shape).astype(np.float32))
print(f"salt pans: {len(train)} survey readings, 2 channels (depth, salinity), standardised")
print(f"sliced W1 reference: real-vs-real floor {floor:.4f}, standard-normal guess {base:.4f}")
w0 = sliced_w1(held_a, np.array(sample_fake(2000)))
print(f"untrained generator sliced W1 {w0:.4f}; ideal discriminator loss at balance ln4 = {math.log(4):.4f}")
print("step  | d_loss  g_loss | p(real) p(fake) | sliced_W1 | d_scale g_scale | d_skip g_skip | sec")

t0 = time.time()
win_d, win_g, win_pr, win_pf = [], [], [], []
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(train), BATCH)
    x_real = mx.array(train[idx])

    # discriminator update
    refresh(G16, G32)
    refresh(D16, D32)
    z = mx.random.normal((BATCH, NOISE_DIM))
    x_fake = mx.stop_gradient(G16(z.astype(mx.float16)))
    s_d = mx.array(scale_d.scale, dtype=mx.float32)
    (_, gd) = d_grad_fn(x_real, x_fake, s_d)
    gd32, ok_d = scale_d.unscale(gd)
    if ok_d:
        D32.update(opt_d.apply_gradients(gd32, D32.parameters()))
        mx.eval(D32.parameters(), opt_d.state)
    scale_d.after(ok_d)

    # generator update against the refreshed discriminator
    refresh(D16, D32)
    z = mx.random.normal((BATCH, NOISE_DIM))
    s_g = mx.array(scale_g.scale, dtype=mx.float32)
    (_, gg) = g_grad_fn(z, s_g)
    gg32, ok_g = scale_g.unscale(gg)
    if ok_g:
        G32.update(opt_g.apply_gradients(gg32, G32.parameters()))
        mx.eval(G32.parameters(), opt_g.state)
    scale_g.after(ok_g)

    # monitoring on the fp32 masters
    lr_m = D32(x_real)
    fk = G32(mx.random.normal((BATCH, NOISE_DIM)))
    lf_m = D32(fk)
    dl = bce_logits(lr_m, mx.ones(lr_m.shape)) + bce_logits(lf_m, mx.zeros(lf_m.shape))
    gl = bce_logits(lf_m, mx.ones(lf_m.shape))
    mx.eval(dl, gl)
    win_d.append(dl.item())
    win_g.append(gl.item())
    win_pr.append(mx.mean(mx.sigmoid(lr_m)).item())
    win_pf.append(mx.mean(mx.sigmoid(lf_m)).item())

    if step % REPORT == 0 or step == 1:
        gen = np.array(G32(mx.random.normal((2000, NOISE_DIM))))
        w = sliced_w1(held_a, gen)
        print(f"{step:5d} | {np.mean(win_d):.4f}  {np.mean(win_g):.4f} | {np.mean(win_pr):.3f}   "
              f"{np.mean(win_pf):.3f}   | {w:.4f}    | 2^{scale_d.exp():<5d} 2^{scale_g.exp():<5d} | "
              f"{scale_d.skipped:6d} {scale_g.skipped:6d} | {time.time() - t0:5.1f}")
        win_d, win_g, win_pr, win_pf = [], [], [], []

gen = np.array(G32(mx.random.normal((4000, NOISE_DIM))))
stage_share = np.bincount(np.argmin(((gen[:, None, :] - np.array([[-1.4, -1.1], [0.2, 0.3], [1.3, 1.5]])[None]) ** 2).sum(-1), axis=1), minlength=3) / len(gen)
print(f"done: sliced W1 {sliced_w1(held_a, gen[:2000]):.4f} (floor {floor:.4f}, normal guess {base:.4f})")
print(f"generated pond-stage shares {np.round(stage_share, 3).tolist()} vs survey [0.45, 0.35, 0.2]")
print(f"master dtypes G {G32.l1.weight.dtype} D {D32.l1.weight.dtype}; working copies {G16.l1.weight.dtype}")
