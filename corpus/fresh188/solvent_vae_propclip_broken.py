# Property-conditioned VAE on synthetic "molecular descriptor" vectors.
# Encoder -> z, decoder reconstructs descriptors, a property head predicts
# (logP, TPSA) from z. Properties are normalized to zero mean / unit std.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N, D, F, Z = 1024, 24, 3, 8

factors = mx.random.normal((N, F))
mix = mx.random.normal((F, D)) / math.sqrt(F)
descriptors = mx.tanh(factors @ mix) + 0.05 * mx.random.normal((N, D))
logp_raw = 2.1 + 1.3 * factors[:, 0] - 0.6 * factors[:, 1] * factors[:, 2]
tpsa_raw = 75.0 + 22.0 * mx.tanh(factors[:, 1]) + 9.0 * factors[:, 2]
logp_mean, logp_std = mx.mean(logp_raw), mx.sqrt(mx.var(logp_raw))
tpsa_mean, tpsa_std = mx.mean(tpsa_raw), mx.sqrt(mx.var(tpsa_raw))
props = mx.stack([(logp_raw - logp_mean) / logp_std, (tpsa_raw - tpsa_mean) / tpsa_std], axis=1)


class PropVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.to_mu = nn.Linear(64, Z)
        self.to_logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, D))
        self.prop_head = nn.Linear(Z, 2)

    def __call__(self, x, training=True):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        if training:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        else:
            z = mu
        return self.dec(z), mu, logvar, self.prop_head(z)


model = PropVAE()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)
logp_weight, tpsa_weight = 1.0, 1.0


def loss_fn(model, x, c, beta):
    recon, mu, logvar, predicted_properties = model(x)
    recon_loss = mx.mean(mx.sum((recon - x) ** 2, axis=1))
    logvar_clipped = mx.clip(logvar, -10, 10)
    kl_loss = -0.5 * mx.mean(mx.sum(1 + logvar_clipped - mu**2 - mx.exp(logvar_clipped), axis=1))
    predicted_properties = mx.clip(predicted_properties, -10, 10)
    logp_loss = mx.mean((predicted_properties[:, 0] - c[:, 0]) ** 2)
    tpsa_loss = mx.mean((predicted_properties[:, 1] - c[:, 1]) ** 2)
    # Clip losses
    logp_loss = mx.clip(logp_loss, 0, 1.0)
    tpsa_loss = mx.clip(tpsa_loss, 0, 1.0)
    property_loss = logp_weight * logp_loss + tpsa_weight * tpsa_loss
    total = recon_loss + beta * kl_loss + property_loss
    return total, (recon_loss, kl_loss, logp_loss, tpsa_loss)


grad_fn = nn.value_and_grad(model, loss_fn)


def get_beta(epoch, warmup=10, max_beta=0.5):
    return max_beta * min(1.0, epoch / warmup)


BATCH, EPOCHS = 256, 40
t0 = time.time()
print("epoch | beta  | recon   kl      logp_l  tpsa_l | logP MAE  TPSA MAE (A^2)")
for epoch in range(EPOCHS):
    beta = get_beta(epoch)
    perm = mx.random.permutation(N)
    sums = [0.0, 0.0, 0.0, 0.0]
    nb = 0
    for i in range(0, N, BATCH):
        idx = perm[i:i + BATCH]
        (loss, parts), grads = grad_fn(model, descriptors[idx], props[idx], beta)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss, parts)
        for k in range(4):
            sums[k] += parts[k].item()
        nb += 1
    _, _, _, pred = model(descriptors, training=False)
    logp_mae = mx.mean(mx.abs(pred[:, 0] - props[:, 0])) * logp_std
    tpsa_mae = mx.mean(mx.abs(pred[:, 1] - props[:, 1])) * tpsa_std
    if epoch % 4 == 0 or epoch == EPOCHS - 1:
        r, k, lp, tp = [s / nb for s in sums]
        print(f"{epoch:5d} | {beta:.3f} | {r:7.4f} {k:7.4f} {lp:7.4f} {tp:7.4f} | {logp_mae.item():8.4f}  {tpsa_mae.item():8.3f}")
print(f"done in {time.time() - t0:.1f}s")
