"""Variational autoencoder on synthetic 8x8 'digits'; reports elbo, recon and kl per epoch."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(1)
N, D, Z = 3000, 64, 4
basis = mx.random.normal((Z, D))
codes = mx.random.normal((N, Z))
data = mx.sigmoid(codes @ basis)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.ReLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.ReLU(), nn.Linear(64, D))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def neg_elbo(model, x):
    logits, mu, logvar = model(x)
    recon = nn.losses.binary_cross_entropy(logits, x, reduction="sum") / x.shape[0]
    kl = -0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar)) / x.shape[0]
    return recon + kl, (recon, kl)


vae = VAE()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(vae, neg_elbo)
for epoch in range(1, 16):
    perm = mx.random.permutation(N)
    totals = {"elbo": 0.0, "recon": 0.0, "kl": 0.0}
    batches = 0
    for i in range(0, N, 100):
        (loss, (recon, kl)), grads = step(vae, data[perm[i:i + 100]])
        opt.update(vae, grads)
        mx.eval(loss, recon, kl, vae.parameters(), opt.state)
        totals["elbo"] -= loss.item()
        totals["recon"] += recon.item()
        totals["kl"] += kl.item()
        batches += 1
    print({"epoch": epoch, **{k: round(v / batches, 3) for k, v in totals.items()}})
