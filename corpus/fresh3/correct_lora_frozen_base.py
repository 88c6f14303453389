"""Slow LoRA fine-tune of a tiny transformer: the base is pre-trained on task A here, then
frozen; only rank-4 adapters on the attention projections learn task B. Logged via `logging`."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("lora")
V, L, D = 24, 12, 32


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.lora_a = mx.random.uniform(-1, 1, (in_d, r)) / math.sqrt(in_d)
        self.lora_b = mx.zeros((r, out_d))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * (x @ self.lora_a) @ self.lora_b


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.block = nn.TransformerEncoderLayer(D, 2, 64)
        self.head = nn.Linear(D, V)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        return self.head(self.block(self.emb(x), mask))


def task_batch(key, shift):
    start = mx.random.randint(0, V, (32, 1), key=key)
    seq = (start + shift * mx.arange(L + 1)[None, :]) % V
    return seq[:, :-1], seq[:, 1:]


def train(model, shift, steps, lr, tag):
    opt = optim.Adam(learning_rate=lr)
    lg = nn.value_and_grad(
        model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    key = mx.random.key(shift)
    for it in range(1, steps + 1):
        key, sub = mx.random.split(key)
        x, y = task_batch(sub, shift)
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        if it % 25 == 0:
            log.info("%s iter %d: train loss %.3f", tag, it, loss.item())


model = TinyLM()
train(model, shift=1, steps=100, lr=3e-3, tag="pretrain")
model.freeze()
attn = model.block.attention
attn.query_proj = LoRALinear(attn.query_proj)
attn.value_proj = LoRALinear(attn.value_proj)
n_train = sum(v.size for _, v in tree_flatten(
    model.trainable_parameters()))
log.info("trainable parameters: %d", n_train)
train(model, shift=3, steps=300, lr=1e-3, tag="lora")
