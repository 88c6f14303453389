# Tiny ViT on synthetic "bright quadrant" images (NHWC, as MLX wants).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam


class PatchEmbed(nn.Module):
    def __init__(self, img_size=16, patch_size=4, in_channels=3, embed_dim=48):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def __call__(self, x):
        x = self.proj(x)  # (B, D, H/P, W/P)
        x = x.reshape(x.shape[0], x.shape[1], -1)  # (B, D, N)
        x = x.transpose(0, 2, 1)  # (B, N, D)
        return x


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def __call__(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads=4):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def __call__(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = nn.softmax((q @ k.transpose(0, 1, 3, 2)) * self.scale, axis=-1)
        x = (attn @ v).transpose(0, 2, 1, 3).reshape(B, N, C)
        return self.proj(x)


class Block(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, dim * 2)

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    def __init__(self, img_size=16, patch_size=4, num_classes=4, embed_dim=48, depth=2, num_heads=4):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, 3, embed_dim)
        n = self.patch_embed.num_patches
        self.cls_token = mx.random.normal(shape=(1, 1, embed_dim)) * 0.02
        self.pos_embed = mx.random.normal(shape=(1, n + 1, embed_dim)) * 0.02
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def __call__(self, x):
        B = x.shape[0]
        x = self.patch_embed(x)
        cls = mx.broadcast_to(self.cls_token, (B, 1, x.shape[-1]))
        x = mx.concatenate([cls, x], axis=1)
        x = x + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def make_data(n, rng):
    imgs = rng.normal(0, 0.3, size=(n, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 4, size=n)
    for i, c in enumerate(labels):
        r, col = divmod(int(c), 2)
        imgs[i, r * 8:(r + 1) * 8, col * 8:(col + 1) * 8, :] += 1.0
    return mx.array(imgs), mx.array(labels.astype(np.int32))


mx.random.seed(0)
rng = np.random.default_rng(0)
train_x, train_y = make_data(1024, rng)
batch_size = 64
num_epochs = 6

model = TinyViT()
optimizer = Adam(learning_rate=1e-3)


def compute_loss(model, images, labels):
    return nn.losses.cross_entropy(model(images), labels, reduction="mean")


loss_and_grad_fn = nn.value_and_grad(model, compute_loss)

for epoch in range(num_epochs):
    total_loss, num_batches, correct, total = 0.0, 0, 0, 0
    start_time = time.time()
    perm = mx.array(rng.permutation(train_y.size))
    for s in range(0, train_y.size, batch_size):
        idx = perm[s:s + batch_size]
        images, labels = train_x[idx], train_y[idx]
        loss, grads = loss_and_grad_fn(model, images, labels)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        preds = mx.argmax(model(images), axis=-1)
        total_loss += loss.item()
        num_batches += 1
        correct += mx.sum(preds == labels).item()
        total += labels.size
    print(f"[Epoch {epoch+1}] Loss: {total_loss/num_batches:.4f} | Accuracy: {correct/total*100:.2f}% | Time: {time.time()-start_time:.2f}s")
