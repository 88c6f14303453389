"""Denoising VAE for 8x8 weaving-loom pattern tiles (binary twill/check/stripe
motifs). The corruption gets stronger stage by stage (flip 5% -> 15% -> 30% of
the threads), and the KL weight beta is annealed from 0 to 1 over the first
stage, so the printed ELBO terms move in different directions on purpose.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
D = 64


def tile(kind, r):
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    if kind == 0:   # twill: diagonal
        t = ((i + r.integers(8)) - j) % r.integers(3, 5) == 0
    elif kind == 1:  # check
        p = r.integers(2, 4)
        t = ((i // p) + (j // p)) % 2 == 0
    elif kind == 2:  # horizontal stripe
        t = (i + r.integers(8)) % r.integers(2, 4) == 0
    else:           # vertical stripe
        t = (j + r.integers(8)) % r.integers(2, 4) == 0
    return t.astype(np.float32).reshape(-1)


def make_set(n, r):
    return np.stack([tile(k, r) for k in r.integers(0, 4, n)])


train = make_set(6000, rng)
val = make_set(800, np.random.default_rng(5))
val_mx = mx.array(val)


class DVAE(nn.Module):
    def __init__(self, z=6):
        super().__init__()
        self.e1 = nn.Linear(D, 128)
        self.mu = nn.Linear(128, z)
        self.logvar = nn.Linear(128, z)
        self.d1 = nn.Linear(z, 128)
        self.d2 = nn.Linear(128, D)

    def __call__(self, x, key):
        h = nn.relu(self.e1(x))
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8, 8)
        zs = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.d2(nn.relu(self.d1(zs))), mu, logvar


def terms(model, noisy, clean, key):
    logits, mu, logvar = model(noisy, key)
    rec = mx.mean(mx.sum(nn.losses.binary_cross_entropy(logits, clean, with_logits=True, reduction="none"), axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return rec, kl


def loss_fn(model, noisy, clean, key, beta):
    rec, kl = terms(model, noisy, clean, key)
    return rec + beta * kl, (rec, kl)


def corrupt(x, p, r):
    flip = r.random(x.shape) < p
    return np.where(flip, 1.0 - x, x).astype(np.float32)


STAGES = [(0.05, 8), (0.15, 6), (0.30, 6)]  # flip prob, epochs
WARM_STEPS = 400                             # beta goes 0 -> 1 linearly
BATCH = 100

mx.random.seed(1)
model = DVAE()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3)
vg = nn.value_and_grad(model, loss_fn)
print(f"train tiles {len(train)}, val tiles {len(val)}; copy-the-noisy-input reconstructs val "
      f"with bit error = flip rate by construction")

step = 0
t0 = time.time()
for stage, (p, epochs) in enumerate(STAGES, 1):
    val_noisy = mx.array(corrupt(val, p, np.random.default_rng(40 + stage)))
    print(f"## stage {stage}: flip {p:.0%} of threads, {epochs} epochs")
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(train))
        sums = np.zeros(3)
        nb = 0
        for b in range(0, len(train), BATCH):
            clean = train[order[b:b + BATCH]]
            noisy = mx.array(corrupt(clean, p, rng))
            beta = min(1.0, step / WARM_STEPS)
            (loss, (rec, kl)), grads = vg(model, noisy, mx.array(clean), mx.random.key(step), beta)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, rec, kl)
            sums += [loss.item(), rec.item(), kl.item()]
            nb += 1
            step += 1
        logits, mu, _ = model(val_noisy, mx.random.key(0))
        recon = (logits > 0).astype(mx.float32)
        bit_err = 100 * mx.mean(recon != val_mx).item()
        vrec, vkl = terms(model, val_noisy, val_mx, mx.random.key(1))
        tl, tr, tk = sums / nb
        print(f"  s{stage} ep {ep}  beta {beta:.2f}  train elbo-loss {tl:7.3f} = rec {tr:7.3f} + beta*kl({tk:6.3f})  "
              f"| val rec {vrec.item():6.3f} kl {vkl.item():6.3f}  bit err {bit_err:5.2f}% (noisy input {100 * p:.0f}%)  {time.time() - t0:5.1f}s")

print(f"done: {step} updates, final val bit error {bit_err:.2f}% at {100 * STAGES[-1][0]:.0f}% input flips")
