"""Property-guided VAE over high-entropy-alloy compositions (MLX).

Encodes 30-element composition vectors to a small latent space, decodes them
back, and regresses a normalized property (e.g. yield strength) from the latent.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.optimizers import AdamW


class HEA_VAE(nn.Module):
    def __init__(
        self,
        input_dim: int=30, # 30 unique elements
        latent_dim: int=2, #[2, 4, 8]
        hidden_dim: int=128,
    ):
        super().__init__()
        self.enc1 = nn.Linear(input_dim, hidden_dim)
        self.enc2 = nn.Linear(hidden_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.dec1 = nn.Linear(latent_dim, hidden_dim)
        self.dec2 = nn.Linear(hidden_dim, hidden_dim)
        self.dec_out = nn.Linear(hidden_dim, input_dim)

        self.regressor = [
            nn.Linear(latent_dim, 16),
            nn.ReLU(),
            nn.Linear(16, 1)
        ]

    def encode(self, x):
        h = nn.relu(self.enc1(x))
        h = nn.relu(self.enc2(h))
        mu = self.fc_mu(h)
        logvar = self.fc_logvar(h)
        return mu, logvar

    def reparameterize(self, mu, logvar):
        std = mx.exp(0.5 * logvar)
        eps = mx.random.normal(shape=mu.shape)
        return mu + eps * std

    def decode(self, z):
        h = nn.relu(self.dec1(z))
        h = nn.relu(self.dec2(h))
        x = nn.softmax(self.dec_out(h))
        return x

    def predict(self, z):
        h = z
        for layer in self.regressor:
            h = layer(h)
        return h

    def __call__(self, inputs):
        mu, logvar = self.encode(inputs)
        z = self.reparameterize(mu, logvar)
        x = self.decode(z)
        prop = self.predict(z)
        return x, prop, mu, logvar


def property_guided_loss(recon_x, x, pred_y, y, mu, logvar, alpha=10.0, beta=1.0):
    # 1. Chemistry loss (reconstruction of the composition)
    loss_chem = nn.losses.mse_loss(recon_x, x, reduction='mean')

    # 2. Physics loss (property regression)
    loss_prop = nn.losses.mse_loss(pred_y, y, reduction='mean')

    # 3. Regularization (KL divergence)
    loss_kld = -0.5 * mx.sum(1 + logvar - mx.power(mu, 2) - mx.exp(logvar))

    return loss_chem + (alpha * loss_prop) + (beta * loss_kld)


def make_alloys(n, n_elem=30, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, n_elem), dtype=np.float32)
    for i in range(n):
        k = rng.integers(4, 7)                     # 4-6 principal elements
        idx = rng.choice(n_elem, size=k, replace=False)
        X[i, idx] = rng.dirichlet(np.ones(k) * 2.0)
    w = rng.normal(size=(n_elem,)).astype(np.float32) * 3.0
    y = X @ w + 0.05 * rng.normal(size=(n,)).astype(np.float32)
    y = y.reshape(-1, 1)
    y_mean, y_std = float(y.mean()), float(y.std())
    return X, ((y - y_mean) / y_std).astype(np.float32), y_mean, y_std


def batches(X, y, batch_size, rng):
    order = rng.permutation(len(X))
    for s in range(0, len(X), batch_size):
        b = order[s:s + batch_size]
        yield mx.array(X[b]), mx.array(y[b])


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(1)
    X, y, y_mean, y_std = make_alloys(1024)
    n_train = 832
    Xtr, ytr, Xva, yva = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    print(f"Loaded {len(X)} alloys ({n_train} train / {len(X) - n_train} val)")
    print(f"Target property normalized (mean: {y_mean:.2f}, std: {y_std:.2f})")

    model = HEA_VAE()
    opt = AdamW(learning_rate=1e-3)
    alpha, beta = 10.0, 0.01

    def loss_fn(model, x, yb):
        recon_x, pred_y, mu, logvar = model(x)
        return property_guided_loss(recon_x, x, pred_y, yb, mu, logvar,
                                    alpha=alpha, beta=beta)

    loss_and_grad_fn = mx.value_and_grad(loss_fn)

    t0 = time.time()
    epochs, batch_size = 40, 64
    for epoch in range(1, epochs + 1):
        tot = chem = prop = 0.0
        nb = 0
        for xb, yb in batches(Xtr, ytr, batch_size, rng):
            loss, grads = loss_and_grad_fn(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            recon_x, pred_y, mu, logvar = model(xb)
            tot += float(loss)
            chem += float(nn.losses.mse_loss(recon_x, xb, reduction='mean'))
            prop += float(nn.losses.mse_loss(pred_y, yb, reduction='mean'))
            nb += 1
        if epoch % 5 == 0 or epoch == 1:
            mu_va, _ = model.encode(mx.array(Xva))
            pred_va = model.predict(mu_va)
            ss_res = float(mx.sum((pred_va - mx.array(yva)) ** 2))
            ss_tot = float(np.sum((yva - yva.mean()) ** 2))
            print(f"Epoch {epoch}/{epochs} Summary: Total Loss={tot/nb:.4f} | "
                  f"Chem_Err={chem/nb:.5f} | Prop_Err={prop/nb:.4f} | "
                  f"val R2={1 - ss_res/ss_tot:.3f}")
    print(f"Training Complete. ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
