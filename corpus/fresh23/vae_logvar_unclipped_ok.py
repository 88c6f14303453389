"""Small VAE on synthetic count-valued 'fragment fingerprints'.

Encoder -> (mu, logvar), reparameterised sample, decoder reconstructs the
fingerprint.  KL weight is annealed in after a few reconstruction-only
epochs.  fc_logvar starts with a positive bias (higher initial variance).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N, D, LATENT = 2048, 48, 16
# synthetic data: counts of 48 "fragments", driven by 6 hidden factors
factors = rng.gamma(2.0, 1.0, size=(N, 6))
loading = rng.uniform(0, 3, size=(6, D))
counts = rng.poisson(6.0 * (factors @ loading)).astype(np.float32)
X = mx.array(counts)
print(f"data: {X.shape}, mean count {counts.mean():.2f}, max {counts.max():.0f}")


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_layers = [nn.Linear(D, 128), nn.Linear(128, 64)]
        self.fc_mu = nn.Linear(64, LATENT)
        self.fc_logvar = nn.Linear(64, LATENT)
        he = nn.init.he_normal()
        self.fc_mu.weight = he(self.fc_mu.weight)
        self.fc_mu.bias = mx.zeros_like(self.fc_mu.bias)
        self.fc_logvar.weight = he(self.fc_logvar.weight)
        # higher initial variance: exp(2) ~ 7.4
        self.fc_logvar.bias = mx.array([2.0] * LATENT, dtype=mx.float32)

    def __call__(self, x):
        for layer in self.dense_layers:
            x = nn.relu(layer(x))
        mu = self.fc_mu(x)
        logvar = self.fc_logvar(x)
        logvar = mx.clip(logvar, -10.0, 10.0)
        return mu, logvar


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(nn.Linear(LATENT, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, D))

    def __call__(self, x):
        mu, logvar = self.encoder(x)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.decoder(z), mu, logvar


def compute_loss(model, x, kl_weight):
    recon, mu, logvar = model(x)
    recon_loss = mx.mean(mx.sum((recon - x) ** 2, axis=-1))
    kl = -0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=-1)
    kl = mx.mean(kl)
    kl = mx.where(mx.isfinite(kl), kl, mx.zeros_like(kl))
    return recon_loss + kl_weight * kl, (recon_loss, kl)


model = VAE()
mx.eval(model.parameters())
EPOCHS, BATCH = 24, 64
steps_per_epoch = N // BATCH
learning_rate = 2e-3
initial_lr = learning_rate * 0.5
scheduler = optim.cosine_decay(initial_lr, EPOCHS * steps_per_epoch, end=learning_rate)
optimizer = optim.Adam(learning_rate=scheduler)
loss_and_grad = nn.value_and_grad(model, compute_loss)
FINAL_KL = 25.0

print(f"{'epoch':>5} {'kl_w':>6} {'loss':>12} {'recon':>12} {'kl':>12} {'time':>6}")
t0 = time.time()
for epoch in range(EPOCHS):
    if epoch < 3:
        kl_w = 0.0
    elif epoch < 8:
        kl_w = ((epoch - 3) / 4.0) * FINAL_KL if epoch < 7 else FINAL_KL
    else:
        kl_w = FINAL_KL
    perm = mx.array(rng.permutation(N))
    tot = rec = kls = 0.0
    for i in range(steps_per_epoch):
        xb = X[perm[i * BATCH:(i + 1) * BATCH]]
        (loss, (r, k)), grads = loss_and_grad(model, xb, kl_w)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss, r, k)
        tot += loss.item(); rec += r.item(); kls += k.item()
    n = steps_per_epoch
    kl_avg = kls / n
    kl_str = f"{kl_avg:.2e}" if abs(kl_avg) > 1e6 else f"{kl_avg:.4f}"
    print(f"{epoch:>5} {kl_w:>6.2f} {tot / n:>12.4f} {rec / n:>12.4f} {kl_str:>12} {time.time() - t0:>5.1f}s", flush=True)
