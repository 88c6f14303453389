# Steel-pan tuner's notebook: learn the joint spread of tuning offsets
# (fundamental cents, octave-partial cents) of freshly sunk notes with a tiny GAN.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N = 6000
# made-up workshop law: fundamental tends sharp, octave drifts opposite, correlated
mu_true = np.array([6.0, -4.0], dtype=np.float32)          # cents
cov_true = np.array([[25.0, -12.0], [-12.0, 16.0]], dtype=np.float32)
L = np.linalg.cholesky(cov_true)
offsets = (rng.standard_normal((N, 2)).astype(np.float32) @ L.T) + mu_true
SCALE = 5.0
data = mx.array((offsets - mu_true.mean()) / SCALE)
shift = float(mu_true.mean())

LATENT = 4


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(LATENT, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 2)

    def __call__(self, z):
        h = nn.tanh(self.l1(z))
        h = nn.tanh(self.l2(h))
        return self.out(h)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 64)
        self.l2 = nn.Linear(64, 1)

    def __call__(self, x):
        return self.l2(nn.leaky_relu(self.l1(x), 0.2)).squeeze(-1)


mx.random.seed(3)
G, D = Gen(), Disc()
EPOCHS, ITERS, B = 24, 40, 128
optG = optim.Adam(learning_rate=optim.cosine_decay(2e-3, EPOCHS * ITERS, 1e-4), betas=[0.5, 0.999])
optD = optim.Adam(learning_rate=optim.cosine_decay(2e-3, EPOCHS * ITERS, 1e-4), betas=[0.5, 0.999])
bce = nn.losses.binary_cross_entropy


def d_loss(dmod, real, fake):
    lr_ = dmod(real)
    lf_ = dmod(fake)
    return bce(lr_, mx.ones_like(lr_), reduction="mean") + bce(lf_, mx.zeros_like(lf_), reduction="mean")


def g_loss(gmod, dmod, z):
    lf_ = dmod(gmod(z))
    return bce(lf_, mx.ones_like(lf_), reduction="mean")


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, lambda g, z: g_loss(g, D, z))


def moments(x):
    x = np.array(x) * SCALE + shift
    m = x.mean(0)
    s = x.std(0)
    r = np.corrcoef(x.T)[0, 1]
    return m, s, r


def gnorm(tree):
    return math.sqrt(sum(float((v * v).sum()) for _, v in tree_flatten(tree)))


ref_m, ref_s, ref_r = moments(data)
print(f"pan notes: {N}  ref  mean=({ref_m[0]:+.2f},{ref_m[1]:+.2f}) c  sd=({ref_s[0]:.2f},{ref_s[1]:.2f}) c  r={ref_r:+.3f}")
t0 = time.perf_counter()
zfix = mx.random.normal((4000, LATENT))
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N))
    dsum = gsum = 0.0
    for it in range(ITERS):
        real = data[perm[it * B:(it + 1) * B]]
        z = mx.random.normal((B, LATENT))
        fake = mx.stop_gradient(G(z))
        ld, gd = d_vg(D, real, fake)
        optD.update(D, gd)
        z2 = mx.random.normal((B, LATENT))
        lg, gg = g_vg(G, z2)
        optG.update(G, gg)
        mx.eval(D.parameters(), G.parameters(), optD.state, optG.state, ld, lg)
        if ep == 1 and it == 0:
            print(f"[audit] |grad D|={gnorm(gd):.4f} |grad G|={gnorm(gg):.4f}  tensors D={len(tree_flatten(gd))} G={len(tree_flatten(gg))}")
        dsum += ld.item()
        gsum += lg.item()
    m, s, r = moments(G(zfix))
    dm = float(np.abs(m - ref_m).max())
    ds = float(np.abs(s - ref_s).max())
    bar = "#" * 10
    el = time.perf_counter() - t0
    print(f"epoch {ep:2d}/{EPOCHS}: 100%|{bar}| {ITERS}/{ITERS} [{el:4.1f}s, D={dsum/ITERS:.3f}, G={gsum/ITERS:.3f}, "
          f"lr={optG.learning_rate.item():.1e}, mean=({m[0]:+.2f},{m[1]:+.2f}) sd=({s[0]:.2f},{s[1]:.2f}) r={r:+.3f} | gap_mean={dm:.2f}c gap_sd={ds:.2f}c]")
m, s, r = moments(G(zfix))
print(f"done. generated vs workshop log: mean gap {np.abs(m-ref_m).max():.2f} c, sd gap {np.abs(s-ref_s).max():.2f} c, "
      f"corr {r:+.3f} vs {ref_r:+.3f}")
