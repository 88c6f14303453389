"""LoRA fine-tune of a tiny decoder (Phi-style blocks: fused qkv_proj, gate_up_proj).

The LoRA settings come from a YAML-like config dict, mirroring an mlx_lm.lora config.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

CONFIG = {
    "num_layers": 2,
    "batch_size": 8,
    "iters": 200,
    "learning_rate": 2e-3,
    "steps_per_report": 20,
    "lora_parameters": {
        "keys": ["self_attn.q_proj", "self_attn.v_proj"],
        "rank": 8,
        "scale": 10.0,
        "dropout": 0.0,
    },
}

mx.random.seed(4)
rng = np.random.default_rng(4)
V, D, H, T = 48, 64, 4, 16


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv_proj = nn.Linear(D, 3 * D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv_proj(x), 3, axis=-1)
        q, k, v = (a.reshape(B, L, H, -1).transpose(0, 2, 1, 3) for a in (q, k, v))
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(D // H), mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.gate_up_proj = nn.Linear(D, 4 * D, bias=False)
        self.down_proj = nn.Linear(2 * D, D, bias=False)
        self.ln1 = nn.RMSNorm(D)
        self.ln2 = nn.RMSNorm(D)

    def __call__(self, x, mask):
        x = x + self.self_attn(self.ln1(x), mask)
        g, u = mx.split(self.gate_up_proj(self.ln2(x)), 2, axis=-1)
        return x + self.down_proj(nn.silu(g) * u)


class TinyDecoder(nn.Module):
    def __init__(self, n_layers=3):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.layers = [Block() for _ in range(n_layers)]
        self.norm = nn.RMSNorm(D)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.embed(x)
        for layer in self.layers:
            h = layer(h, mask)
        return self.embed.as_linear(self.norm(h))


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, r=8, scale=10.0, dropout=0.0):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, r, scale, dropout)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, r, scale, dropout):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims, bias=False)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale
        b = 1 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-b, b, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((self.dropout(x) @ self.lora_a) @ self.lora_b)


def linear_to_lora_layers(model, num_layers, config):
    keys = set(config["keys"])
    for layer in model.layers[-num_layers:]:
        lora_layers = [
            (name, LoRALinear.from_base(m, config["rank"], config["scale"], config["dropout"]))
            for name, m in layer.named_modules()
            if name in keys and isinstance(m, nn.Linear)
        ]
        if lora_layers:
            layer.update_modules(tree_unflatten(lora_layers))


def make_batch(bs):
    # sequences that count upward mod V from a random start
    start = rng.integers(0, V, (bs, 1))
    seq = (start + np.arange(T + 1)) % V
    return mx.array(seq[:, :-1].astype(np.int32)), mx.array(seq[:, 1:].astype(np.int32))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = TinyDecoder()
mx.eval(model.parameters())
model.freeze()
linear_to_lora_layers(model, CONFIG["num_layers"], CONFIG["lora_parameters"])

n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Trainable parameters: {100 * n_train / n_total:.3f}% ({n_train / 1e6:.3f}M/{n_total / 1e6:.3f}M)")
print(f"Starting training..., iters: {CONFIG['iters']}")

opt = optim.Adam(learning_rate=CONFIG["learning_rate"])
loss_and_grad = nn.value_and_grad(model, loss_fn)
losses = []
for it in range(1, CONFIG["iters"] + 1):
    x, y = make_batch(CONFIG["batch_size"])
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    losses.append(loss.item())
    if it % CONFIG["steps_per_report"] == 0:
        print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Learning Rate {opt.learning_rate.item():.3e}")
        losses = []
