# Tiny vision encoder over a variable number of patches (padded to MAX_PATCHES),
# bidirectional attention with a padding mask, masked mean pooling, linear head.
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

MAX_PATCHES = 16
PATCH_DIM = 12
DIM = 32


def make_dataset(n, rng):
    """Images of different sizes -> different numbers of real patches."""
    x = np.zeros((n, MAX_PATCHES, PATCH_DIM), dtype=np.float32)
    valid = np.zeros((n, MAX_PATCHES), dtype=bool)
    y = np.zeros((n,), dtype=np.int32)
    for i in range(n):
        k = rng.integers(6, MAX_PATCHES + 1)
        p = rng.normal(size=(k, PATCH_DIM)).astype(np.float32)
        label = rng.integers(0, 2)
        p[:, 0] += 1.0 if label else -1.0
        x[i, :k] = p
        valid[i, :k] = True
        y[i] = label
    return mx.array(x), mx.array(valid), mx.array(y)


class Block(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, valid):
        B, L, D = x.shape
        h = self.heads
        q, k, v = mx.split(self.qkv(self.norm1(x)), 3, axis=-1)
        q = q.reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        scores = (q @ k.transpose(0, 1, 3, 2)) * (q.shape[-1] ** -0.5)
        # bidirectional mask: a pair attends only if both patches are real
        pair = valid[:, None, :, None] & valid[:, None, None, :]
        scores = mx.where(pair, scores, -mx.inf)
        attn = mx.softmax(scores, axis=-1)
        o = (attn @ v).transpose(0, 2, 1, 3).reshape(B, L, D)
        x = x + self.proj(o)
        return x + self.mlp(self.norm2(x))


class PatchEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(PATCH_DIM, DIM)
        self.pos = mx.random.normal((MAX_PATCHES, DIM)) * 0.02
        self.blocks = [Block(DIM)]
        self.head = nn.Linear(DIM, 2)

    def __call__(self, x, valid):
        h = self.embed(x) + self.pos
        for b in self.blocks:
            h = b(h, valid)
        m = valid[..., None]
        pooled = mx.where(m, h, 0.0).sum(axis=1) / m.sum(axis=1)
        return self.head(pooled)


def loss_fn(model, x, valid, y):
    return nn.losses.cross_entropy(model(x, valid), y, reduction="mean")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    x, valid, y = make_dataset(1024, rng)
    model = PatchEncoder()
    opt = optim.AdamW(learning_rate=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    bs = 32
    nb = x.shape[0] // bs
    for epoch in range(1, 5):
        perm = mx.array(rng.permutation(x.shape[0]))
        tot, correct = 0.0, 0
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = vg(model, x[idx], valid[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if (b + 1) % 8 == 0:
                print(f"epoch {epoch} [{b + 1}/{nb}] loss={tot / (b + 1):.4f}")
        logits = model(x, valid)
        acc = (logits.argmax(axis=-1) == y).mean().item()
        print(f"epoch {epoch} done: mean_loss={tot / nb:.4f} train_acc={acc:.3f}")


if __name__ == "__main__":
    main()
