# Conditional-free VAE on synthetic 24-dim "descriptor" vectors.
# Loss = reconstruction + beta * KL (free bits), beta warmed up per epoch,
# plus a mutual-information penalty that is supposed to fight posterior collapse.
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

N, DIM, LATENT, BATCH = 4096, 24, 8, 64
EPOCHS = 10
BETA_START, BETA_END, BETA_WARMUP_EPOCHS = 0.0, 0.4, 4
FREE_BITS = 0.5
LAMBDA_MI = 0.01

# data: 4 latent factors through a fixed nonlinear map, plus noise
z_true = mx.random.normal((N, 4))
mix = mx.random.normal((4, DIM)) / 2.0
data = mx.tanh(z_true @ mix) + 0.05 * mx.random.normal((N, DIM))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(DIM, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, DIM))

    def __call__(self, x):
        mu, logvar = self.enc(x)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def kl_divergence(mu, logvar, free_bits):
    kl_per_dim = -0.5 * (1.0 + logvar - mx.square(mu) - mx.exp(logvar))
    kl_per_dim = mx.maximum(kl_per_dim, free_bits / mu.shape[1])
    return mx.mean(mx.sum(kl_per_dim, axis=1))


def mutual_information(mu, logvar):
    batch_size = mu.shape[0]
    var = mx.exp(logvar)
    mean_kl = mx.mean(-0.5 * mx.sum(1.0 + logvar - mx.square(mu) - var, axis=1))
    mean_mu = mx.mean(mu, axis=0)
    mean_var = mx.mean(var, axis=0)
    agg_kl = -0.5 * mx.sum(1.0 + mx.log(mean_var) - mx.square(mean_mu) - mean_var)
    return mean_kl - agg_kl / batch_size


def vae_loss(model, x, beta):
    recon_x, mu, logvar = model(x)
    recon = mx.mean(mx.sum(mx.square(recon_x - x), axis=1))
    kl = kl_divergence(mu, logvar, FREE_BITS)
    mi = mutual_information(mu, logvar)
    mi_penalty = -LAMBDA_MI * mi  # negative: we want to maximise MI
    total = recon + beta * kl + mi_penalty
    return total, (recon, kl, mi)


model = VAE()
opt = optim.Adam(learning_rate=2e-3)
grad_fn = nn.value_and_grad(model, vae_loss)

steps_per_epoch = N // BATCH
for epoch in range(EPOCHS):
    beta = BETA_START + (BETA_END - BETA_START) * min(1.0, epoch / BETA_WARMUP_EPOCHS)
    perm = mx.random.permutation(N)
    sums = [0.0, 0.0, 0.0, 0.0]
    for i in range(steps_per_epoch):
        xb = data[perm[i * BATCH:(i + 1) * BATCH]]
        (loss, (recon, kl, mi)), grads = grad_fn(model, xb, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, recon, kl, mi)
        for j, v in enumerate((loss, recon, kl, mi)):
            sums[j] += v.item()
        if (i + 1) % 16 == 0:
            print(f"  epoch {epoch + 1} batch {i + 1:3d}/{steps_per_epoch}  loss {loss.item():.4f}", flush=True)
    avg = [s / steps_per_epoch for s in sums]
    print(f"Epoch {epoch + 1}/{EPOCHS}: Train Loss: {avg[0]:.4f} | recon {avg[1]:.4f} | "
          f"kl {avg[2]:.4f} | MI {avg[3]:.4f} | Beta: {beta:.4f}", flush=True)
