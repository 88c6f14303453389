"""Keyword-spotting transformer (KWT) on synthetic log-mel keyword clips."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class FeedForward(nn.Sequential):
    def __init__(self, dim, hidden_dim):
        super().__init__(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.out = nn.Linear(dim, dim)

    def __call__(self, x):
        b, n, _, h = *x.shape, self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, -1).transpose(2, 0, 3, 1, 4)
        attn = mx.softmax((q @ k.transpose(0, 1, 3, 2)) * self.scale, axis=-1)
        return self.out((attn @ v).transpose(0, 2, 1, 3).reshape(b, n, -1))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, mlp_dim)
        self.norm2 = nn.LayerNorm(dim)

    def __call__(self, x):
        x = self.norm1(self.attn(x)) + x
        x = self.norm2(self.ff(x)) + x
        return x


class KWT(nn.Module):
    def __init__(self, frames, mels, num_classes, dim=32, depth=12, heads=1, mlp_dim=64):
        super().__init__()
        self.patch = nn.Linear(mels, dim)
        self.pos = mx.random.normal((1, frames, dim)) * 0.02
        self.layers = [Block(dim, heads, mlp_dim) for _ in range(depth)]
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def __call__(self, x):
        x = self.patch(x) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(axis=1))


FRAMES, MELS, KEYWORDS = 16, 12, 6
rng = np.random.default_rng(0)
templates = rng.normal(size=(KEYWORDS, FRAMES, MELS)).astype(np.float32)


def clips(n):
    y = rng.integers(0, KEYWORDS, n)
    x = 0.8 * templates[y] + rng.normal(size=(n, FRAMES, MELS)).astype(np.float32)
    return mx.array(x), mx.array(y)


mx.random.seed(0)
model = KWT(FRAMES, MELS, KEYWORDS)
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).mean()


step = nn.value_and_grad(model, loss_fn)
xv, yv = clips(256)
t0 = time.time()
for it in range(1, 121):
    x, y = clips(32)
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if it % 20 == 0:
        acc = (model(xv).argmax(-1) == yv).mean().item()
        print(f"step {it:4d}  loss {loss.item():.4f}  val_acc {acc:.3f}  ({time.time()-t0:.1f}s)")
acc = (model(xv).argmax(-1) == yv).mean().item()
print(f"final val_acc {acc:.3f} (chance {1/KEYWORDS:.3f})")
