"""Tiny vision encoder: patch embed -> 2x2 patch merger -> classifier, on synthetic 16x16 images."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PATCH, MERGE, DIM, CLASSES = 4, 2, 48, 5


class PatchMerger(nn.Module):
    def __init__(self, dim, merge):
        super().__init__()
        self.hidden = dim * merge * merge
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(self.hidden, self.hidden)

    def __call__(self, x):
        b, h, w, d = x.shape
        x = self.norm(x)
        x = x.reshape(b, h // MERGE, MERGE, w // MERGE, MERGE, d).transpose(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, -1, d)
        return nn.gelu(self.proj(x))


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(1, DIM, PATCH, stride=PATCH)
        self.merger = PatchMerger(DIM, MERGE)
        self.head = nn.Linear(DIM * MERGE * MERGE, CLASSES)

    def __call__(self, img):
        return self.head(self.merger(self.embed(img)).mean(axis=1))


mx.random.seed(2)
labels = mx.random.randint(0, CLASSES, (600,))
templates = mx.random.normal((CLASSES, 16, 16, 1))
images = templates[labels] + 2.0 * mx.random.normal((600, 16, 16, 1))

model = TinyViT()
opt = optim.Adafactor(learning_rate=1e-2, relative_step=False)
train = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y).mean())
for epoch in range(6):
    for i in range(0, 600, 50):
        loss, grads = train(model, images[i:i + 50], labels[i:i + 50])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
    acc = (model(images).argmax(-1) == labels).mean().item()
    print(f"Epoch {epoch}: loss={loss.item():.4f} acc={acc:.2%}")
