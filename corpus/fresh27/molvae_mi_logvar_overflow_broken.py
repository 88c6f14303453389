# Tiny VAE with a mutual-information bonus (maximise MI between x and z),
# beta warm-up on the KL term.  Synthetic 24-d data from a 4-d latent.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(67)
N, D, LAT = 512, 24, 4
Z = mx.random.normal((N, LAT))
A = mx.random.normal((LAT, D)) / 2.0
X = mx.tanh(Z @ A) + 0.05 * mx.random.normal((N, D))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.fc_mu = nn.Linear(64, LAT)
        self.fc_logvar = nn.Linear(64, LAT)

    def __call__(self, x):
        h = self.body(x)
        mu = 3.0 * mx.tanh(self.fc_mu(h))  # bounded latent means
        logvar = self.fc_logvar(h)
        return mu, logvar


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = nn.Sequential(nn.Linear(LAT, 64), nn.ReLU(), nn.Linear(64, D))

    def __call__(self, x):
        mu, logvar = self.enc(x)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def mutual_information(mu, logvar):
    var = mx.exp(logvar)
    kl_per_sample = -0.5 * mx.sum(1.0 + logvar - mx.square(mu) - var, axis=1)
    mean_kl = mx.mean(kl_per_sample)
    mean_mu = mx.mean(mu, axis=0)
    mean_var = mx.mean(var, axis=0)
    mean_logvar = mx.log(mean_var)
    agg_kl = -0.5 * mx.sum(1.0 + mean_logvar - mx.square(mean_mu) - mean_var)
    return mean_kl - agg_kl


def loss_fn(model, x, beta, lambda_mi):
    recon, mu, logvar = model(x)
    rec = mx.mean(mx.sum(mx.square(recon - x), axis=1))
    kl = mx.mean(-0.5 * mx.sum(1.0 + logvar - mx.square(mu) - mx.exp(logvar), axis=1))
    mi = mutual_information(mu, logvar)
    return rec + beta * kl - lambda_mi * mi


model = VAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)

BS, EPOCHS, WARM = 64, 60, 30
t0 = time.time()
for epoch in range(EPOCHS):
    beta = 0.2 * min(1.0, epoch / WARM)
    perm = mx.random.permutation(N)
    tot, nb = 0.0, 0
    for i in range(0, N, BS):
        xb = X[perm[i:i + BS]]
        loss, grads = step_fn(model, xb, beta, 0.1)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    mu, lv = model.enc(X[:256])
    print(f"epoch {epoch:02d}  beta={beta:.3f}  loss={tot / nb:.4f}  "
          f"mean_logvar={mx.mean(lv).item():.2f}  t={time.time() - t0:.1f}s")
