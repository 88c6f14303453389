"""Variational autoencoder for 10x10 cattle-brand marks from a brand registry.

Each mark is two strokes from a small set (bar, rocker, ring, slash, post, box),
shifted by up to one cell, with a few stray pixels. Stage one trains the encoder and
decoder as a plain autoencoder; stage two switches the KL term on with a free-bits floor.
Reconstructions and prior samples are drawn as text between reports.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(3)
mx.random.seed(3)
S = 10
LAT = 4


def strokes():
    out = {}
    g = np.zeros((S, S)); g[4, 2:8] = 1; out["bar"] = g
    g = np.zeros((S, S)); g[2:8, 4] = 1; out["post"] = g
    g = np.zeros((S, S))
    for x in range(2, 8):
        g[7 - int(round(1.5 * np.sin(np.pi * (x - 2) / 5))), x] = 1
    out["rocker"] = g
    g = np.zeros((S, S)); yy, xx = np.mgrid[:S, :S]
    g[np.abs(np.hypot(yy - 4.5, xx - 4.5) - 2.6) < 0.55] = 1; out["ring"] = g
    g = np.zeros((S, S))
    for i in range(2, 8):
        g[i, 9 - i] = 1
    out["slash"] = g
    g = np.zeros((S, S)); g[2, 2:8] = g[7, 2:8] = g[2:8, 2] = g[2:8, 7] = 1; out["box"] = g
    return out


STROKES = strokes()
NAMES = list(STROKES)


def make_marks(n):
    imgs = np.zeros((n, S, S), dtype=np.float32)
    for k in range(n):
        a, b = rng.choice(len(NAMES), size=2, replace=False)
        m = np.maximum(STROKES[NAMES[a]], STROKES[NAMES[b]])
        m = np.roll(m, rng.integers(-1, 2), axis=0)
        m = np.roll(m, rng.integers(-1, 2), axis=1)
        flip = rng.random((S, S)) < 0.02
        imgs[k] = np.where(flip, 1 - m, m)
    return imgs.reshape(n, S * S)


train = make_marks(5000)
test = make_marks(600)


class BrandVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(S * S, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.mu = nn.Linear(64, LAT)
        self.logvar = nn.Linear(64, LAT)
        self.dec = nn.Sequential(nn.Linear(LAT, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, S * S))

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)

    def __call__(self, x, eps):
        mu, logvar = self.encode(x)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, eps):
    logits, mu, logvar = model(x, eps)
    recon = mx.sum(nn.losses.binary_cross_entropy(logits, x, reduction="none"), axis=1)
    kl_dim = 0.5 * (mx.exp(logvar) + mu ** 2 - 1.0 - logvar)
    return mx.mean(recon), mx.mean(kl_dim, axis=0)


def objective(model, x, eps, beta, free):
    recon, kl_dim = terms(model, x, eps)
    return recon + beta * mx.sum(mx.maximum(kl_dim, free))


model = BrandVAE()
opt = optim.Adamax(learning_rate=4e-3)
step_fn = nn.value_and_grad(model, objective)


def test_report():
    x = mx.array(test)
    eps = mx.random.normal((len(test), LAT), key=mx.random.key(5))
    recon, kl_dim = terms(model, x, eps)
    mu, _ = model.encode(x)
    pix = (np.array(mx.sigmoid(model.dec(mu))) > 0.5).astype(np.float32)
    err = float(np.mean(pix != test))
    active = int((np.array(kl_dim) > 0.1).sum())
    return recon.item(), float(mx.sum(kl_dim).item()), err, active


def draw(rows):
    return ["".join("#" if v > 0.5 else "." for v in r) for r in rows]


def panel(title, imgs):
    grids = [draw(im.reshape(S, S)) for im in imgs]
    print(f"   {title}")
    for r in range(S):
        print("   " + "   ".join(g[r] for g in grids))


mean_img = train.mean(0)
base_err_off = float(np.mean(test != 0))
base_err_mean = float(np.mean((np.broadcast_to(mean_img, test.shape) > 0.5) != test))
print(f"brand registry: {len(train)} train marks, {len(test)} test marks, {S}x{S} cells, strokes {', '.join(NAMES)}")
print(f"pixel error baselines: all blank {100 * base_err_off:.1f}% | mean mark {100 * base_err_mean:.1f}%")
r0, k0, e0, a0 = test_report()
print(f"untrained: test recon {r0:.2f} nats, kl {k0:.2f} nats, pixel error {100 * e0:.1f}%")

EPOCHS = 14
STAGE2 = 5
BATCH = 100
FREE = 0.25
t0 = time.time()
show = test[:3]
for epoch in range(1, EPOCHS + 1):
    if epoch == 1:
        print("\n=== stage 1: autoencoder, KL weight 0 ===")
    if epoch == STAGE2:
        print(f"\n=== stage 2: KL weight 1, free bits {FREE} nats per latent ===")
    beta = 0.0 if epoch < STAGE2 else 1.0
    perm = rng.permutation(len(train))
    tot = 0.0
    nb = 0
    for i in range(0, len(train), BATCH):
        xb = mx.array(train[perm[i:i + BATCH]])
        eps = mx.random.normal((xb.shape[0], LAT))
        loss, grads = step_fn(model, xb, eps, beta, FREE)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    rec, kl, err, active = test_report()
    print(f"epoch {epoch:2d}  objective {tot / nb:7.2f}  test recon {rec:6.2f}  test kl {kl:5.2f}  "
          f"test -elbo {rec + kl:6.2f}  pixel err {100 * err:4.1f}%  active latents {active}  {time.time() - t0:5.1f}s")
    if epoch in (4, EPOCHS):
        mu, _ = model.encode(mx.array(show))
        rec_imgs = np.array(mx.sigmoid(model.dec(mu)))
        panel("test marks", show)
        panel("reconstructions", rec_imgs)
        z = mx.random.normal((3, LAT), key=mx.random.key(100 + epoch))
        panel("drawn from the prior", np.array(mx.sigmoid(model.dec(z))))

rec, kl, err, active = test_report()
print(f"\nfinal: test -elbo {rec + kl:.2f} nats per mark, pixel error {100 * err:.1f}% "
      f"(mean-mark baseline {100 * base_err_mean:.1f}%)")
