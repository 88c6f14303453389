"""beta-VAE with a controlled KL capacity (Burgess et al. 2018) on 1-D
"bump" signals: 32-sample Gaussian bumps with random centre and width.
Loss = Gaussian NLL (learned per-pixel noise scale, so it goes negative)
      + gamma * |KL - C|, with C ramped linearly 0 -> 8 nats.
Updates go through optimizer.apply_gradients + model.update."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)

P = 32
grid = np.arange(P, dtype=np.float32)


def bumps(n):
    c = rng.uniform(4, 28, size=(n, 1))
    w = rng.uniform(1.5, 4.0, size=(n, 1))
    x = np.exp(-0.5 * ((grid[None] - c) / w) ** 2)
    return (x + 0.02 * rng.standard_normal((n, P))).astype(np.float32)


train = bumps(4096)
valid = mx.array(bumps(1024))


class BVAE(nn.Module):
    def __init__(self, z=6, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(P, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, P))
        self.log_sigma = mx.full((P,), -1.0)   # learned observation noise

    def __call__(self, x, sample=True):
        e = self.enc(x)
        mu, lv = self.mu(e), self.logvar(e)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape) if sample else mu
        return self.dec(z), mu, lv


def terms(model, x, sample=True):
    xh, mu, lv = model(x, sample)
    ls = model.log_sigma
    nll = (0.5 * ((x - xh) / mx.exp(ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)).sum(-1).mean()
    kl_dim = 0.5 * (mx.exp(lv) + mu**2 - 1.0 - lv).mean(0)      # per latent, nats
    return nll, kl_dim


def loss_fn(model, x, C, gamma):
    nll, kl_dim = terms(model, x)
    kl = kl_dim.sum()
    return nll + gamma * mx.abs(kl - C), (nll, kl)


model = BVAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, loss_fn)

_, g0 = vg(model, valid[:128], mx.array(0.5), 10.0)
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"trainable leaves: {len(tree_flatten(g0))}, zero-grad leaves at step 0: {zero or 'none'}")

EPOCHS, BS, GAMMA, C_MAX = 30, 128, 10.0, 8.0
steps_per_epoch = len(train) // BS
t0 = time.time()
for ep in range(EPOCHS):
    C = C_MAX * min(1.0, ep / (EPOCHS * 0.6))
    perm = rng.permutation(len(train))
    for s in range(steps_per_epoch):
        xb = mx.array(train[perm[s * BS:(s + 1) * BS]])
        (loss, (nll, kl)), grads = vg(model, xb, mx.array(C), GAMMA)
        new_params = opt.apply_gradients(grads, model.trainable_parameters())
        model.update(new_params)
        mx.eval(model.parameters(), opt.state)
    vnll, vkl = terms(model, valid, sample=False)
    active = int((vkl > 0.1).sum().item())
    rmse = mx.sqrt(((model(valid, False)[0] - valid) ** 2).mean()).item()
    print(f"epoch={ep + 1:02d} C={C:4.2f} last_batch_loss={loss.item():+8.3f} val_nll={vnll.item():+8.3f} "
          f"val_kl={vkl.sum().item():5.2f} active_latents={active} recon_rmse={rmse:.4f}")
print(f"finished in {time.time() - t0:.1f}s; noise scale learned: "
      f"{mx.exp(model.log_sigma).mean().item():.4f} (data noise 0.02)")
