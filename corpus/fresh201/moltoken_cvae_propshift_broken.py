# Conditional VAE over short token strings (SELFIES-like), conditioned on two
# normalized "properties". Trains with a linear KL warm-up.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(67)
V, T, N, LATENT = 6, 10, 512, 16

# synthetic "molecules": random token strings
data = mx.random.randint(0, V, (N, T))
# two properties: fraction of token 0, mean token index -> normalized
p1 = (data == 0).astype(mx.float32).mean(axis=1)
p2 = data.astype(mx.float32).mean(axis=1)
props = mx.stack([p1, p2], axis=1)
props = (props - props.mean(axis=0)) / (props.std(axis=0) + 1e-6)


class TokenCVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 16)
        self.enc = nn.Sequential(nn.Linear(T * 16, 128), nn.ReLU())
        self.mu = nn.Linear(128, LATENT)
        self.logvar = nn.Linear(128, LATENT)
        self.property_embedding = nn.Linear(2, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, T * V))

    def __call__(self, x, properties, training=True, noise_std=0.05):
        h = self.enc(self.embed(x).reshape(x.shape[0], -1))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        if properties is not None:
            property_embedding = self.property_embedding(properties)
            # Property embedding determines the latent code (makes it the base)
            z = property_embedding
        if training and noise_std > 0:
            z = z + mx.random.normal(z.shape) * noise_std
        logits = self.dec(z).reshape(x.shape[0], T, V)
        return logits, mu, logvar


def loss_fn(model, x, pr, beta):
    logits, mu, logvar = model(x, pr)
    recon = nn.losses.cross_entropy(logits, x, reduction="mean") * T
    kl = -0.5 * mx.mean(mx.sum(1 + logvar - mu**2 - mx.exp(logvar), axis=1))
    return recon + beta * kl, (recon, kl)


model = TokenCVAE()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, lambda m, x, p, b: loss_fn(m, x, p, b)[0])
total_epochs, bs = 60, 64
print(f"vocab={V} len={T} n={N}  recon baseline (uniform) = {T*math.log(V):.3f} nats/seq")
for epoch in range(total_epochs):
    beta = min(0.2, 0.2 * epoch / 30)  # KL warm-up
    perm = mx.random.permutation(N)
    rs, ks = [], []
    for i in range(0, N, bs):
        idx = perm[i:i + bs]
        x, pr = data[idx], props[idx]
        loss, grads = vg(model, x, pr, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        _, (r, k) = loss_fn(model, x, pr, beta)
        rs.append(r.item()); ks.append(k.item())
    if epoch % 5 == 0 or epoch == total_epochs - 1:
        print(f"epoch {epoch+1:3d}/{total_epochs}  beta={beta:.3f}  recon={sum(rs)/len(rs):.4f}  kl={sum(ks)/len(ks):.4f}")

logits, _, _ = model(data, props, training=False)
acc = (mx.argmax(logits, axis=-1) == data).astype(mx.float32).mean().item()
print(f"token reconstruction accuracy: {100*acc:.1f}%  (chance {100/V:.1f}%)")
