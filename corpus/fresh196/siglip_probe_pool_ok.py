# Tiny SigLIP-style vision tower with a multihead attention pooling head,
# trained to classify which "texture" patch was planted in a 12-patch image.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
N_PATCH, PATCH_DIM, HID, HEADS, N_CLS = 12, 16, 32, 4, 3


class MHA(nn.Module):
    def __init__(self, dims: int, num_heads: int, bias: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj = nn.Linear(dims, dims * 3, bias=bias)
        self.out_proj = nn.Linear(dims, dims, bias=bias)

    def __call__(self, queries: mx.array, keys: mx.array, values: mx.array, mask=None):
        B, L, _ = queries.shape
        _, S, _ = keys.shape

        dims = self.in_proj.weight.shape[1]

        # Split in_proj weights for Q, K, V
        q_weight = self.in_proj.weight[:dims, :]
        kv_weight = self.in_proj.weight[dims:, :]

        queries = queries @ q_weight.T
        kv = keys @ kv_weight.T
        if "bias" in self.in_proj:
            queries = queries + self.in_proj.bias[:dims]
            kv = kv + self.in_proj.bias[dims:]
        keys, values = mx.split(kv, 2, axis=-1)

        num_heads = self.num_heads
        queries = queries.reshape(B, L, num_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, S, num_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, S, num_heads, -1).transpose(0, 2, 1, 3)
        scale = queries.shape[-1] ** -0.5
        output = mx.fast.scaled_dot_product_attention(queries, keys, values, scale=scale, mask=mask)
        output = output.transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.out_proj(output)


class PoolingHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.probe = mx.ones((1, 1, HID))
        self.attention = MHA(HID, HEADS, bias=True)
        self.layernorm = nn.LayerNorm(HID)
        self.mlp = nn.Sequential(nn.Linear(HID, 2 * HID), nn.GELU(), nn.Linear(2 * HID, HID))

    def __call__(self, hidden_state):
        probe = mx.repeat(self.probe, hidden_state.shape[0], axis=0)
        hidden_state = self.attention(probe, hidden_state, hidden_state)
        residual = hidden_state
        hidden_state = self.layernorm(hidden_state)
        hidden_state = residual + self.mlp(hidden_state)
        return hidden_state[:, 0]


class TinyTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(PATCH_DIM, HID)
        self.pos = mx.random.normal((N_PATCH, HID)) * 0.02
        self.norm = nn.LayerNorm(HID)
        self.head = PoolingHead()
        self.cls = nn.Linear(HID, N_CLS)

    def __call__(self, x):
        h = self.norm(self.patch_embed(x) + self.pos)
        return self.cls(self.head(h))


protos = mx.random.normal((N_CLS, PATCH_DIM)) * 2.0


def make_batch(n):
    x = mx.random.normal((n, N_PATCH, PATCH_DIM)) * 0.7
    y = mx.random.randint(0, N_CLS, (n,))
    where = mx.random.randint(0, N_PATCH, (n,))
    hit = (mx.arange(N_PATCH)[None, :] == where[:, None])[..., None]
    x = mx.where(hit, x + protos[y][:, None, :], x)
    return x, y


model = TinyTower()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
xv, yv = make_batch(512)
t0 = time.time()
for epoch in range(1, 9):
    tot = 0.0
    gn = {}
    for step in range(40):
        x, y = make_batch(64)
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        for k, g in tree_flatten(grads):
            key = k.split(".")[0] if not k.startswith("head.") else ".".join(k.split(".")[:2])
            gn[key] = gn.get(key, 0.0) + mx.sum(g * g).item()
    acc = (mx.argmax(model(xv), axis=-1) == yv).mean().item()
    norms = "  ".join(f"{k}={v ** 0.5:.3e}" for k, v in sorted(gn.items()))
    print(f"epoch {epoch}  loss {tot / 40:.4f}  val_acc {100 * acc:.1f}%")
    print(f"   grad-norm | {norms}")
print(f"done in {time.time() - t0:.1f}s, probe drift from init = {mx.abs(model.head.probe - 1.0).max().item():.4f}")
