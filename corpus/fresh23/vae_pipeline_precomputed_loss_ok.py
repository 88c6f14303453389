# Small op-pipeline trainer (forward op -> loss op -> update op) used for an
# unsupervised VAE on synthetic 8x8 "stroke" images. Batches carry only "x".
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("vae")

rng = np.random.default_rng(11)


def make_images(n):
    imgs = np.zeros((n, 8, 8), np.float32)
    for k in range(n):
        r, c = rng.integers(0, 8, size=2)
        if rng.random() < 0.5:
            imgs[k, r, :] = 1.0
        else:
            imgs[k, :, c] = 1.0
    imgs += 0.05 * rng.standard_normal(imgs.shape).astype(np.float32)
    return imgs.reshape(n, 64)


data = make_images(4096)


class VAE(nn.Module):
    def __init__(self, d=64, h=128, z=8):
        super().__init__()
        self.enc = nn.Linear(d, h)
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec1 = nn.Linear(z, h)
        self.dec2 = nn.Linear(h, d)

    def __call__(self, x):
        h = nn.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec2(nn.relu(self.dec1(z))), mu, logvar


def vae_loss(x, x_recon, mu, logvar, beta=0.05):
    recon = mx.mean(mx.sum((x - x_recon) ** 2, axis=-1))
    kl = -0.5 * mx.mean(mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=-1))
    return recon + beta * kl


class ModelOp:
    def __init__(self, model):
        self.model = model

    def forward(self, batch):
        batch["x_recon"], batch["mu"], batch["logvar"] = self.model(batch["x"])


class VAELossOp:
    def forward(self, batch):
        batch["loss"] = vae_loss(batch["x"], batch["x_recon"], batch["mu"], batch["logvar"])


class UpdateOp:
    def __init__(self, model, optimizer, loss_key="loss"):
        self.model, self.optimizer, self.loss_key = model, optimizer, loss_key

    def forward(self, batch):
        x, y = batch["x"], batch.get("y")
        loss_val = batch[self.loss_key]

        def loss_wrapper(model):
            pred = model(x)
            if y is not None:
                return mx.mean(nn.losses.cross_entropy(pred, y))
            # no targets (unsupervised): recompute the VAE loss from this forward pass
            x_recon, mu, logvar = pred
            return vae_loss(x, x_recon, mu, logvar)

        value, grads = nn.value_and_grad(self.model, loss_wrapper)(self.model)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        return value


model = VAE()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)
ops = [ModelOp(model), VAELossOp(), UpdateOp(model, optimizer)]

batch_size = 64
step = 0
for epoch in range(1, 13):
    perm = rng.permutation(len(data))
    losses = []
    for s in range(0, len(perm), batch_size):
        batch = {"x": mx.array(data[perm[s:s + batch_size]])}
        for op in ops:
            op.forward(batch)
        losses.append(batch["loss"].item())
        step += 1
    log.info("epoch %2d step %5d  vae_loss %.4f", epoch, step, float(np.mean(losses)))
