"""LoRA fine-tune of a small 'pretrained' char transformer on a new text style.

Base weights are frozen; LoRA adapters go on the attention query/value
projections of the last `num_layers` transformer blocks (0 = all blocks).
"""
import logging
import math
import random
import re

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
logger = logging.getLogger("lora")

TEXT = ("the quick brown fox jumps over the lazy dog. "
        "pack my box with five dozen liquor jugs. "
        "how vexingly quick daft zebras jump! ") * 40
CHARS = sorted(set(TEXT))
STOI = {c: i for i, c in enumerate(CHARS)}
V, DIM, N_LAYERS, CTX = len(CHARS), 64, 4, 32


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8, scale=2.0):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, rank, scale)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, rank=8, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims, bias=False)
        s = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-s, s, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Attention(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.heads = heads
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = (f(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for f in (self.wq, self.wk, self.wv))
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(D // self.heads), mask=mask)
        return self.wo(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.attention = Attention(dim)
        self.norm1 = nn.RMSNorm(dim)
        self.norm2 = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, mask):
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, DIM)
        self.pos = nn.Embedding(CTX, DIM)
        self.layers = [Block(DIM) for _ in range(N_LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.out = nn.Linear(DIM, V)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.embed(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for layer in self.layers:
            x = layer(x, mask)
        return self.out(self.norm(x))


def init_lora(model, num_layers=0, rank=8):
    model.freeze()

    def get_modules(prefix, module):
        for key, child in module.named_modules():
            if isinstance(child, nn.Linear) and re.search(r"attention\.(wq|wv)$", key):
                yield f"{prefix}.{key}", LoRALinear.from_linear(child, rank=rank)

    lora_modules = []
    if num_layers > 0:
        # Apply LoRA to last n layers
        for i, layer in list(enumerate(model.layers))[-num_layers:]:
            lora_modules.extend(get_modules(f"layers.{i}", layer))
    else:
        for i, layer in enumerate(model.layers):
            lora_modules.extend(get_modules(f"layers.{i}", layer))
    if not lora_modules:
        logger.error("No target modules found for LoRA")
    model.update_modules(tree_unflatten(lora_modules))
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    logger.info("LoRA on last %d layers: %d adapted modules, %d trainable params",
                num_layers, len(lora_modules), n_train)


def batches(data, bs, rng):
    while True:
        rows = []
        for _ in range(bs):
            i = rng.randrange(len(data) - CTX - 1)
            rows.append(data[i:i + CTX + 1])
        a = mx.array(rows)
        yield a[:, :-1], a[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(0)
    rng = random.Random(0)
    data = [STOI[c] for c in TEXT]
    split = int(0.9 * len(data))
    model = CharLM()
    mx.eval(model.parameters())

    init_lora(model, num_layers=N_LAYERS)   # adapt all 4 blocks ("last 4")

    opt = optim.Adam(learning_rate=5e-3)
    step = nn.value_and_grad(model, loss_fn)
    tr, va = batches(data[:split], 8, rng), batches(data[split:], 32, random.Random(1))
    vx, vy = next(va)
    for it in range(1, 101):
        x, y = next(tr)
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        if it % 10 == 0 or it == 1:
            print(f"Iter {it}: train loss {loss.item():.3f}, val loss {loss_fn(model, vx, vy).item():.3f}", flush=True)


if __name__ == "__main__":
    main()
