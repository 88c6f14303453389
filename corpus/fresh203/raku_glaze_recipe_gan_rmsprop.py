# Raku studio: learn to propose glaze recipes that look like the studio's notebook.
# Each recipe is (Si:Al molar ratio, flux share %).  Three families in the
# notebook: satin matte, clear gloss, crackle.  A small GAN is trained on them.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

np.random.seed(7)
mx.random.seed(7)

FAMILIES = {"matte": (5.0, 18.0), "gloss": (9.0, 26.0), "crackle": (7.0, 34.0)}
SPREAD = np.array([0.45, 1.6])
N = 3000
fam = np.random.randint(0, 3, N)
centres = np.array(list(FAMILIES.values()))
recipes = centres[fam] + np.random.randn(N, 2) * SPREAD
mu, sd = recipes.mean(0), recipes.std(0)
real = mx.array(((recipes - mu) / sd).astype(np.float32))
ref_mean = recipes.mean(0)
ref_cov = np.cov(recipes.T)

Z = 4


class Potter(nn.Module):  # generator
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(Z, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 2)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.l3(h)


class Critic(nn.Module):  # discriminator
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.l3(h).squeeze(-1)


G, D = Potter(), Critic()
mx.eval(G.parameters(), D.parameters())
opt_g = optim.RMSprop(learning_rate=5e-4, alpha=0.9)
opt_d = optim.RMSprop(learning_rate=5e-4, alpha=0.9)


def d_loss_fn(d, xr, xf):
    lr_, lf = d(xr), d(xf)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True)
            + nn.losses.binary_cross_entropy(lf, mx.zeros_like(lf), with_logits=True))


def g_loss_fn(g, z):
    lf = D(g(z))
    return nn.losses.binary_cross_entropy(lf, mx.ones_like(lf), with_logits=True)  # non-saturating


d_vg = nn.value_and_grad(D, d_loss_fn)
g_vg = nn.value_and_grad(G, g_loss_fn)


def audit():
    z = mx.random.normal((4000, Z))
    fake = np.array(G(z)) * sd + mu
    mdiff = np.linalg.norm(fake.mean(0) - ref_mean)
    cdiff = np.linalg.norm(np.cov(fake.T) - ref_cov)
    d2 = ((fake[:, None, :] - centres[None]) / SPREAD) ** 2
    near = d2.sum(-1).argmin(1)
    close = d2.sum(-1).min(1) < 9.0
    cover = [100.0 * np.mean((near == k) & close) for k in range(3)]
    return mdiff, cdiff, cover, 100.0 * close.mean()


# gradient audit before training
z0 = mx.random.normal((64, Z))
_, gd = d_vg(D, real[:64], G(z0))
_, gg = g_vg(G, z0)
zero = [k for k, v in nn.utils.tree_flatten(gd) + nn.utils.tree_flatten(gg) if float(mx.abs(v).max()) == 0.0]
print(f"grad audit: {len(nn.utils.tree_flatten(gd))} critic + {len(nn.utils.tree_flatten(gg))} potter tensors, zero-grad: {zero or 'none'}")

m0, c0, cov0, in0 = audit()
d2r = (((recipes[:, None, :] - centres[None]) / SPREAD) ** 2).sum(-1)
print(f"reference notebook: in-family {100.0 * np.mean(d2r.min(1) < 9.0):.1f}%  matte/gloss/crackle "
      + "/".join(f"{100.0 * np.mean(d2r.argmin(1) == k):.0f}" for k in range(3)) + "%")
print(f"before: |mean-ref|={m0:.3f}  |cov-ref|_F={c0:.3f}  in-family {in0:.1f}%  (matte/gloss/crackle {cov0[0]:.0f}/{cov0[1]:.0f}/{cov0[2]:.0f}%, ideal ~33 each)")

EPOCHS, B = 30, 128
steps = N // B
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(np.random.permutation(N))
    sd_l = sg_l = 0.0
    for i in range(steps):
        xr = real[perm[i * B:(i + 1) * B]]
        z = mx.random.normal((B, Z))
        xf = mx.stop_gradient(G(z))
        ld, gdd = d_vg(D, xr, xf)
        opt_d.update(D, gdd)
        mx.eval(ld, D.parameters(), opt_d.state)
        lg, ggg = g_vg(G, mx.random.normal((B, Z)))
        opt_g.update(G, ggg)
        mx.eval(lg, G.parameters(), opt_g.state)
        sd_l += ld.item()
        sg_l += lg.item()
        if (i + 1) % 6 == 0 or i + 1 == steps:
            done = (i + 1) / steps
            bar = "#" * int(done * 20)
            sys.stdout.write(f"\rep {ep:2d}/{EPOCHS} |{bar:<20}| {done*100:5.1f}% d={sd_l/(i+1):.3f} g={sg_l/(i+1):.3f}")
            sys.stdout.flush()
    m, c, cov, inside = audit()
    sys.stdout.write(f"\n  check ep{ep}: |mean-ref|={m:.3f} |cov-ref|_F={c:.3f} in-family {inside:.1f}% "
                     f"matte/gloss/crackle {cov[0]:.0f}/{cov[1]:.0f}/{cov[2]:.0f}%  [{time.time()-t0:.1f}s]\n")
print(f"final: |mean-ref| {m0:.3f} -> {m:.3f}, |cov-ref|_F {c0:.3f} -> {c:.3f}, in-family {in0:.1f}% -> {inside:.1f}%")
