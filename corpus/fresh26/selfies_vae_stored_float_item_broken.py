"""Token-sequence VAE (toy SELFIES-like strings) with a property head; tqdm progress bar."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from tqdm import tqdm

rng = np.random.default_rng(67)
VOCAB, LEN, LAT, N = 12, 16, 8, 2048
motifs = rng.integers(1, VOCAB, size=(6, LEN))
which = rng.integers(0, 6, size=N)
seqs = motifs[which].copy()
flip = rng.random(seqs.shape) < 0.08
seqs[flip] = rng.integers(1, VOCAB, size=flip.sum())
props = (which.astype(np.float32) - 2.5) / 1.7 + 0.1 * rng.normal(size=N).astype(np.float32)
data, targets = mx.array(seqs), mx.array(props[:, None])


class SeqVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.enc = nn.Sequential(nn.Linear(16 * LEN, 128), nn.ReLU())
        self.mu = nn.Linear(128, LAT)
        self.logvar = nn.Linear(128, LAT)
        self.dec = nn.Sequential(nn.Linear(LAT, 128), nn.ReLU(), nn.Linear(128, LEN * VOCAB))
        self.prop = nn.Linear(LAT, 1)

    def __call__(self, x):
        h = self.enc(self.emb(x).reshape(x.shape[0], -1))
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -10, 10)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z).reshape(-1, LEN, VOCAB), mu, logvar, self.prop(mu)


def compute_loss(x, logits, mu, logvar, beta):
    recon = nn.losses.cross_entropy(logits, x).sum(-1).mean()
    kl = -0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar)).sum(-1).mean()
    return recon + beta * kl, recon, kl


model = SeqVAE()
optimizer = optim.Adam(learning_rate=1e-3)


def train_step(model, batch, batch_props, beta, property_weight=1.0):
    stored_losses = {}

    def loss_fn(model):
        logits, mu, logvar, pred = model(batch)
        _, recon_loss, kl_loss = compute_loss(batch, logits, mu, logvar, beta)
        property_loss = ((pred - batch_props) ** 2).mean()
        # Store losses for later (evaluate immediately)
        stored_losses["recon"] = float(recon_loss.item())
        stored_losses["kl"] = float(kl_loss.item())
        stored_losses["property"] = float(property_loss.item())
        return recon_loss + beta * kl_loss + property_weight * property_loss

    total_loss, grads = nn.value_and_grad(model, loss_fn)(model)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    return total_loss, stored_losses["recon"], stored_losses["kl"], stored_losses["property"]


B = 64
for epoch in range(12):
    beta = min(1.0, epoch / 4)
    perm = mx.array(np.random.default_rng(epoch).permutation(N))
    epoch_losses, epoch_recon, epoch_kl = [], [], []
    progress_bar = tqdm(range(N // B), desc=f"Epoch {epoch + 1}/12", ncols=100)
    for batch_idx in progress_bar:
        idx = perm[batch_idx * B:(batch_idx + 1) * B]
        total_loss, recon_loss, kl_loss, property_loss = train_step(model, data[idx], targets[idx], beta)
        epoch_losses.append(total_loss.item())
        epoch_recon.append(recon_loss)
        epoch_kl.append(kl_loss)
        if batch_idx % 10 == 0:  # Update every 10 batches
            avg_loss = mx.mean(mx.array(epoch_losses)).item()
            avg_recon = mx.mean(mx.array(epoch_recon)).item()
            avg_kl = mx.mean(mx.array(epoch_kl)).item()
            avg_prop = property_loss.item()
            progress_bar.set_postfix({"Loss": f"{avg_loss:.4f}", "Recon": f"{avg_recon:.4f}",
                                      "KL": f"{avg_kl:.4f}", "Prop": f"{avg_prop:.4f}"})
    progress_bar.close()
    print(f"Epoch {epoch + 1}: loss={np.mean(epoch_losses):.4f} recon={np.mean(epoch_recon):.4f} "
          f"kl={np.mean(epoch_kl):.4f} beta={beta:.2f}")
