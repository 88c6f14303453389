"""SimCLR-style contrastive pre-training (InfoNCE) on two noisy views of synthetic latents.

Correct loop: the loss is noisy (new random views every batch) but falls.
"""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(levelname)s:%(name)s:%(message)s", level=logging.INFO)
log = logging.getLogger("simclr")

LATENT, OBS, BATCH, TEMP = 8, 32, 64, 0.2

mx.random.seed(21)
mixing = mx.random.normal((LATENT, OBS))


def two_views(n):
    z = mx.random.normal((n, LATENT))
    clean = mx.tanh(z @ mixing)
    noise = lambda: 0.6 * mx.random.normal(clean.shape)  # noqa: E731
    return clean + noise(), clean + noise()


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(OBS, 64), nn.ReLU(), nn.Linear(64, 64))
        self.proj = nn.Linear(64, 16)

    def __call__(self, x):
        h = self.proj(nn.relu(self.backbone(x)))
        return h / mx.sqrt((h * h).sum(axis=1, keepdims=True) + 1e-6)


def info_nce(model, a, b):
    za, zb = model(a), model(b)
    logits = za @ zb.T / TEMP
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


model = Encoder()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step = nn.value_and_grad(model, info_nce)

for it in range(1, 401):
    a, b = two_views(BATCH)
    loss, grads = step(model, a, b)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0 or it in (1, 10):
        za, zb = model(a), model(b)
        top1 = ((za @ zb.T).argmax(axis=1) == mx.arange(BATCH)).mean().item()
        log.info("step %d | nce %.3f | top1 %.2f", it, loss.item(), top1)
