"""Image-patch classifier with a half-precision trunk (activations cast to float16 to save
memory) and a hand-written RMSNorm ported from the reference implementation."""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")


class RMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-6):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, x):
        return x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + self.eps) * self.weight


class PatchClassifier(nn.Module):
    def __init__(self, n_in=32, dims=64, n_cls=4):
        super().__init__()
        self.patch_embed = nn.Linear(n_in, dims)
        self.norm = nn.RMSNorm(dims)
        self.head = nn.Linear(dims, n_cls)

    def __call__(self, pixels):
        h = self.patch_embed(pixels).astype(mx.float16)
        h = self.norm(h).astype(mx.float32)
        return self.head(h)


mx.random.seed(0)
pixels = mx.random.uniform(shape=(256, 32)) * 255.0  # raw 0..255 pixel values
labels = pixels[:, :4].argmax(axis=1)

model = PatchClassifier()
opt = optim.AdamW(learning_rate=1e-3)
lg = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for epoch in range(1, 301):
    loss, grads = lg(model, pixels, labels)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if epoch % 25 == 0:
        acc = (model(pixels).argmax(axis=1) == labels).mean().item()
        log.info("epoch=%d loss=%.4f acc=%.3f", epoch, loss.item(), acc)
