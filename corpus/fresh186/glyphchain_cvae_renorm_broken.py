# Conditional VAE over short "glyph chain" token strings with two scalar
# properties (logp-like and tpsa-like); the properties are normalised once in
# data preparation and a property head predicts them back from z.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
VOCAB, SEQ, LATENT = 8, 12, 8
N_TRAIN, N_VAL, BATCH, EPOCHS = 1536, 256, 64, 14


def make_data(n):
    toks = rng.integers(0, VOCAB, size=(n, SEQ))
    cnt = np.stack([(toks == k).sum(1) for k in range(VOCAB)], 1).astype(np.float32)
    logp = 1.0 + 0.55 * cnt[:, 1] - 0.35 * cnt[:, 2] + 0.25 * cnt[:, 5] + rng.normal(0, 0.1, n)
    tpsa = 12.0 + 20.0 * cnt[:, 3] + 11.0 * cnt[:, 4] + 6.0 * cnt[:, 6] + rng.normal(0, 2.0, n)
    return toks.astype(np.int32), np.stack([logp, tpsa], 1).astype(np.float32)


tr_tok, tr_raw = make_data(N_TRAIN)
va_tok, va_raw = make_data(N_VAL)
stats = dict(logp_mean=float(tr_raw[:, 0].mean()), logp_std=float(tr_raw[:, 0].std()),
             tpsa_mean=float(tr_raw[:, 1].mean()), tpsa_std=float(tr_raw[:, 1].std()))
# data preparation: properties are normalised here, once
mean_np = np.array([stats["logp_mean"], stats["tpsa_mean"]], np.float32)
std_np = np.array([stats["logp_std"], stats["tpsa_std"]], np.float32)
tr_prop = (tr_raw - mean_np) / std_np
va_prop = (va_raw - mean_np) / std_np


class GlyphCVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 24)
        self.enc = nn.Sequential(nn.Linear(24 * SEQ, 128), nn.GELU(), nn.Linear(128, 2 * LATENT))
        self.dec = nn.Sequential(nn.Linear(LATENT + 2, 128), nn.GELU(), nn.Linear(128, SEQ * VOCAB))
        self.prop_head = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 2))
        self.logp_mean, self.logp_std = stats["logp_mean"], stats["logp_std"]
        self.tpsa_mean, self.tpsa_std = stats["tpsa_mean"], stats["tpsa_std"]

    def __call__(self, x, properties, training=True, noise_std=0.0):
        h = self.embed(x).reshape(x.shape[0], -1)
        mu, logvar = mx.split(self.enc(h), 2, axis=-1)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if training else mu
        if training and noise_std > 0:
            properties = properties + noise_std * mx.random.normal(properties.shape)
        logits = self.dec(mx.concatenate([z, properties], -1)).reshape(-1, SEQ, VOCAB)
        p = self.prop_head(z)
        # predicted properties come back in RAW units
        predicted = p * mx.array([self.logp_std, self.tpsa_std]) + mx.array([self.logp_mean, self.tpsa_mean])
        return logits, mu, logvar, predicted


model = GlyphCVAE()
optimizer = optim.Adam(learning_rate=2e-3)


def train_step(model, batch_data, batch_properties, optimizer, beta, noise_std=0.05):
    def loss_fn(model):
        # Normalize batch_properties once before passing to model
        batch_properties_normalized_input = mx.array([
            [(batch_properties[i, 0] - model.logp_mean) / model.logp_std,
             (batch_properties[i, 1] - model.tpsa_mean) / model.tpsa_std]
            for i in range(batch_properties.shape[0])
        ])

        result = model(batch_data, properties=batch_properties_normalized_input, training=True, noise_std=noise_std)
        logits, mu, logvar, predicted_properties = result
        recon = mx.mean(nn.losses.cross_entropy(logits, batch_data))
        kl = -0.5 * mx.mean(mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), -1))
        predicted_properties = mx.clip(predicted_properties, -1000, 1000)
        pred_n = mx.stack([(predicted_properties[:, 0] - model.logp_mean) / model.logp_std,
                           (predicted_properties[:, 1] - model.tpsa_mean) / model.tpsa_std], 1)
        # Both predicted and batch are now normalized - compare directly
        logp_loss = mx.mean((pred_n[:, 0] - batch_properties_normalized_input[:, 0]) ** 2)
        tpsa_loss = mx.mean((pred_n[:, 1] - batch_properties_normalized_input[:, 1]) ** 2)
        total = recon + beta * kl + logp_loss + tpsa_loss
        return total, (recon, kl, logp_loss, tpsa_loss)

    (loss, parts), grads = nn.value_and_grad(model, loss_fn)(model)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss, parts)
    return loss, parts


xv, pv = mx.array(va_tok), mx.array(va_prop)
print(f"train={N_TRAIN} val={N_VAL} logp~{stats['logp_mean']:.2f}+-{stats['logp_std']:.2f} "
      f"tpsa~{stats['tpsa_mean']:.1f}+-{stats['tpsa_std']:.1f}")
steps_per_epoch = N_TRAIN // BATCH
_, _, _, pred0 = model(xv, properties=pv, training=False)
mae0 = np.abs(np.array(pred0) - va_raw).mean(0)
print(f"Epoch  0/{EPOCHS} | untrained | val MAE logP {mae0[0]:.3f} TPSA {mae0[1]:.2f}")
for epoch in range(1, EPOCHS + 1):
    beta = min(1.0, epoch / 6) * 0.05
    perm = rng.permutation(N_TRAIN)
    acc = np.zeros(5)
    for s in range(steps_per_epoch):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss, parts = train_step(model, mx.array(tr_tok[idx]), mx.array(tr_prop[idx]), optimizer, beta)
        acc += np.array([loss.item()] + [p.item() for p in parts])
    acc /= steps_per_epoch
    logits, mu, logvar, pred = model(xv, properties=pv, training=False)
    pred = np.array(pred)
    mae = np.abs(pred - va_raw).mean(0)
    rec_acc = float(np.mean(np.array(mx.argmax(logits, -1)) == va_tok))
    print(f"Epoch {epoch:2d}/{EPOCHS} | beta {beta:.3f} | loss {acc[0]:.4f} "
          f"(recon {acc[1]:.4f} kl {acc[2]:.4f} logp {acc[3]:.4f} tpsa {acc[4]:.4f}) | "
          f"val MAE logP {mae[0]:.3f} TPSA {mae[1]:.2f} | val tok-acc {100*rec_acc:.1f}%")
