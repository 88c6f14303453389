import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from dataclasses import dataclass

@dataclass
class VisionConfig:
    image_size: int = 16
    patch_size: int = 4
    num_channels: int = 3
    hidden_size: int = 64
    intermediate_size: int = 128
    num_attention_heads: int = 4
    num_hidden_layers: int = 2
    layer_norm_eps: float = 1e-5


class EncoderLayer(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        self.self_attn = nn.MultiHeadAttention(config.hidden_size, config.num_attention_heads, bias=True)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def __call__(self, x):
        y = self.layer_norm1(x)
        x = x + self.self_attn(y, y, y)
        y = self.layer_norm2(x)
        return x + self.fc2(nn.gelu_fast_approx(self.fc1(y)))


class VisionEmbeddings(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        self.config = config
        self.embed_dim = config.hidden_size
        self.image_size = config.image_size
        self.patch_size = config.patch_size
        self.class_embedding = mx.zeros((config.hidden_size,))
        self.patch_embedding = nn.Conv2d(
            in_channels=config.num_channels,
            out_channels=self.embed_dim,
            kernel_size=self.patch_size,
            stride=self.patch_size,
            bias=False,
        )
        self.num_patches = (self.image_size // self.patch_size) ** 2
        self.num_positions = self.num_patches + 1
        self.position_embedding = nn.Embedding(self.num_positions, self.embed_dim)
        self.position_ids = mx.array(np.arange(self.num_positions)[None, :])

    def __call__(self, x: mx.array) -> mx.array:
        batch_size = x.shape[0]
        patch_embeddings = self.patch_embedding(x)
        patch_embeddings = mx.flatten(patch_embeddings, start_axis=1, end_axis=2)
        embed_dim = patch_embeddings.shape[-1]
        cls_embeddings = mx.broadcast_to(
            self.class_embedding, (batch_size, 1, embed_dim)
        )
        embeddings = mx.concatenate((cls_embeddings, patch_embeddings), axis=1)
        embeddings += self.position_embedding(self.position_ids)
        return embeddings


class SheetClassifier(nn.Module):
    def __init__(self, config: VisionConfig, num_classes: int):
        super().__init__()
        self.embeddings = VisionEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size)
        self.layers = [EncoderLayer(config) for _ in range(config.num_hidden_layers)]
        self.post_layernorm = nn.LayerNorm(config.hidden_size)
        self.head = nn.Linear(config.hidden_size, num_classes)

    def __call__(self, x):
        h = self.pre_layrnorm(self.embeddings(x))
        for layer in self.layers:
            h = layer(h)
        return self.head(self.post_layernorm(h[:, 0, :]))


# synthetic herbarium sheets: which corner holds the specimen label (4 classes)
rng = np.random.default_rng(11)
S = 16

def sheets(n):
    y = rng.integers(0, 4, n)
    x = 0.3 * rng.standard_normal((n, S, S, 3)).astype(np.float32)
    stems = rng.integers(2, 14, n)
    for i, k in enumerate(y):
        x[i, :, stems[i], 1] += 0.8                      # pressed stem, column varies
        r0 = 0 if k in (0, 1) else S // 2
        c0 = 0 if k in (0, 2) else S // 2
        x[i, r0 + 1:r0 + 5, c0 + 1:c0 + 7, 0] += 1.0     # paper label in one corner
    return x, y.astype(np.int32)

Xtr, ytr = sheets(2400)
Xva, yva = sheets(480)

mx.random.seed(0)
model = SheetClassifier(VisionConfig(), num_classes=4)
optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

loss_and_grad = nn.value_and_grad(model, loss_fn)

def evaluate(X, Y):
    logits = model(mx.array(X))
    return (nn.losses.cross_entropy(logits, mx.array(Y), reduction="mean").item(),
            mx.mean(mx.argmax(logits, axis=1) == mx.array(Y)).item())

print(f"train sheets {len(Xtr)}, valid sheets {len(Xva)}, classes 4 (chance 0.25)")
tic = time.perf_counter()
BS = 48
for epoch in range(1, 5):
    perm = rng.permutation(len(Xtr))
    losses = []
    for b in range(0, len(Xtr), BS):
        idx = perm[b:b + BS]
        loss, grads = loss_and_grad(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        losses.append(loss.item())
    vl, va = evaluate(Xva, yva)
    print(f"Epoch {epoch}: train loss {np.mean(losses):.4f}, val loss {vl:.4f}, val acc {va:.3f}, "
          f"{time.perf_counter() - tic:.1f}s")
