# Tiny patch-encoder classifier on variable-size "images" (padded patch grids).
# Attention uses an additive padding mask built from the valid-patch mask.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N, P, D, C = 256, 12, 16, 4

# synthetic data: each sample has 5..12 real patches, rest is padding
lens = mx.random.randint(5, P + 1, (N,))
valid = (mx.arange(P)[None, :] < lens[:, None]).astype(mx.float32)
protos = mx.random.normal((C, D))
labels = mx.random.randint(0, C, (N,))
x = (protos[labels][:, None, :] + 3.0 * mx.random.normal((N, P, D))) * valid[:, :, None]


def build_mask(v):
    pair = v[:, :, None] * v[:, None, :]
    return mx.where(pair > 0, 0.0, float("-inf"))


class PatchEncoder(nn.Module):
    def __init__(self, d=D, h=32, c=C):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.q = nn.Linear(h, h)
        self.k = nn.Linear(h, h)
        self.v = nn.Linear(h, h)
        self.o = nn.Linear(h, h)
        self.norm = nn.LayerNorm(h)
        self.head = nn.Linear(h, c)

    def __call__(self, x, v):
        h = self.inp(x)
        s = (self.q(h) @ self.k(h).transpose(0, 2, 1)) / math.sqrt(h.shape[-1])
        a = mx.softmax(s + build_mask(v), axis=-1)
        h = self.norm(h + self.o(a @ self.v(h)))
        pooled = (h * v[:, :, None]).sum(1) / v.sum(1, keepdims=True)
        return self.head(pooled)


model = PatchEncoder()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)


def loss_fn(m, xb, vb, yb):
    return nn.losses.cross_entropy(m(xb, vb), yb, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
B = 32
for it in range(1, 161):
    idx = mx.random.randint(0, N, (B,))
    loss, grads = step_fn(model, x[idx], valid[idx], labels[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0 or it == 1:
        acc = (mx.argmax(model(x, valid), axis=1) == labels).astype(mx.float32).mean()
        print(f"it {it:03d} | ce {loss.item():.4f} | acc {acc.item():.3f}")
print(f"done in {time.time() - t0:.1f}s")
