"""Property-guided VAE for multi-element alloy compositions.

Encodes a 30-element composition vector into a small latent space, decodes it
back, and regresses yield strength from the latent code so that the latent map
can later be searched for strong alloys.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW

N_ELEMENTS = 30
SEED = 7


def make_alloys(n, rng, hardening, pair_w):
    X = np.zeros((n, N_ELEMENTS), dtype=np.float32)
    for i in range(n):
        k = rng.integers(4, 7)
        idx = rng.choice(N_ELEMENTS, size=k, replace=False)
        X[i, idx] = rng.dirichlet(np.full(k, 2.0))
    # solid-solution strengthening: linear part plus pairwise mixing term
    lin = X @ hardening
    mix = np.einsum("ni,ij,nj->n", X, pair_w, X)
    y = 400.0 + 900.0 * lin + 600.0 * mix + rng.normal(0, 25.0, size=n)
    return X, y.astype(np.float32).reshape(-1, 1)


class HEA_VAE(nn.Module):
    def __init__(self, input_dim: int = 30, latent_dim: int = 2, hidden_dim: int = 128):
        super().__init__()
        self.enc1 = nn.Linear(input_dim, hidden_dim)
        self.enc2 = nn.Linear(hidden_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.dec1 = nn.Linear(latent_dim, hidden_dim)
        self.dec2 = nn.Linear(hidden_dim, hidden_dim)
        self.dec_out = nn.Linear(hidden_dim, input_dim)
        self.regressor = [nn.Linear(latent_dim, 16), nn.ReLU(), nn.Linear(16, 1)]

    def encode(self, x):
        h = nn.relu(self.enc1(x))
        h = nn.relu(self.enc2(h))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu, logvar):
        std = mx.exp(0.5 * logvar)
        eps = mx.random.normal(shape=mu.shape)
        return mu + eps * std

    def decode(self, z):
        h = nn.relu(self.dec1(z))
        h = nn.relu(self.dec2(h))
        return nn.softmax(self.dec_out(h))

    def predict(self, z):
        h = z
        for layer in self.regressor:
            h = layer(h)
        return h

    def __call__(self, inputs):
        mu, logvar = self.encode(inputs)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), self.predict(z), mu, logvar


def property_guided_loss(recon_x, x, pred_y, y, mu, logvar, alpha=10.0, beta=1.0):
    loss_chem = nn.losses.mse_loss(recon_x, x, reduction="mean")
    loss_prop = nn.losses.mse_loss(pred_y, y, reduction="mean")
    loss_kld = -0.5 * mx.sum(1 + logvar - mx.power(mu, 2) - mx.exp(logvar))
    return loss_chem + (alpha * loss_prop) + (beta * loss_kld), (loss_chem, loss_prop, loss_kld)


def r2(pred, true):
    ss_res = float(((pred - true) ** 2).sum())
    ss_tot = float(((true - true.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    hardening = rng.normal(0, 1.0, size=N_ELEMENTS).astype(np.float32)
    pair_w = rng.normal(0, 1.0, size=(N_ELEMENTS, N_ELEMENTS)).astype(np.float32)
    pair_w = 0.5 * (pair_w + pair_w.T)
    Xtr, ytr = make_alloys(2048, rng, hardening, pair_w)
    Xva, yva = make_alloys(512, rng, hardening, pair_w)
    y_mean, y_std = float(ytr.mean()), float(ytr.std())
    ytr_n = (ytr - y_mean) / y_std
    yva_n = (yva - y_mean) / y_std
    print(f"alloys: train={len(Xtr)} val={len(Xva)}  YS mean={y_mean:.0f} MPa std={y_std:.0f} MPa")

    model = HEA_VAE()
    mx.eval(model.parameters())
    opt = AdamW(learning_rate=1e-3)
    alpha, beta, batch_size, epochs = 10.0, 1.0, 64, 30

    def loss_fn(model, x, y):
        recon_x, pred_y, mu, logvar = model(x)
        loss, _ = property_guided_loss(recon_x, x, pred_y, y, mu, logvar, alpha=alpha, beta=beta)
        return loss

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    Xva_m, yva_m = mx.array(Xva), mx.array(yva_n)
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        nb = 0
        for s in range(0, len(perm), batch_size):
            idx = perm[s:s + batch_size]
            xb, yb = mx.array(Xtr[idx]), mx.array(ytr_n[idx])
            loss, grads = loss_and_grad(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        recon, _, mu, logvar = model(Xva_m)
        pred = model.predict(mu)
        _, (lc, lp, lk) = property_guided_loss(recon, Xva_m, pred, yva_m, mu, logvar)
        pred_mpa = np.array(pred) * y_std + y_mean
        mae = float(np.abs(pred_mpa - yva).mean())
        print(f"epoch {epoch:2d} | train loss {tot / nb:9.4f} | val chem {lc.item():.5f} "
              f"prop {lp.item():.4f} kld {lk.item():.4f} | val YS MAE {mae:6.1f} MPa "
              f"R2 {r2(pred_mpa, yva):.3f}")
    base_mae = float(np.abs(y_mean - yva).mean())
    print(f"baseline (predict train mean): val YS MAE {base_mae:.1f} MPa R2 0.000")
    mu_abs = float(mx.mean(mx.abs(mu)).item())
    print(f"latent |mu| mean {mu_abs:.4f}  logvar mean {float(mx.mean(logvar).item()):.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
