"""Pretrain a tiny decoder on one counting rule, then adapt it to a second rule with LoRA.

Stage 1: full training of a small causal transformer (model_type "hunyuan") on
sequences that step by +1 mod V.  Stage 2: freeze the base, wrap the attention
projections with low-rank adapters and fine-tune on sequences that step by +3.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

V, T, DIM, HEADS, LAYERS = 24, 10, 32, 4, 2
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_batch(step_size, n):
    start = rng.integers(0, V, size=(n, 1))
    seq = (start + step_size * np.arange(T + 1)[None, :]) % V
    noise = rng.random((n, T + 1)) < 0.03
    seq = np.where(noise, rng.integers(0, V, size=seq.shape), seq)
    seq = mx.array(seq.astype(np.int32))
    return seq[:, :-1], seq[:, 1:]


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(D // h), mask=mask
        )
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dim)
        self.self_attn = Attention(dim, heads)
        self.post_attention_layernorm = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, mask):
        x = x + self.self_attn(self.input_layernorm(x), mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class TinyLM(nn.Module):
    model_type = "hunyuan"

    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, DIM)
        self.pos = nn.Embedding(T, DIM)
        self.layers = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, V, bias=False)

    def __call__(self, tokens):
        L = tokens.shape[1]
        x = self.embed_tokens(tokens) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for layer in self.layers:
            x = layer(x, mask)
        return self.lm_head(self.norm(x))


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, r=8, dropout=0.0, scale=20.0):
        output_dims, input_dims = linear.weight.shape
        lora = LoRALinear(input_dims, output_dims, r=r, dropout=dropout, scale=scale)
        lora.linear = linear
        return lora

    def __init__(self, input_dims, output_dims, r=8, dropout=0.0, scale=20.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=False)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale
        bound = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-bound, high=bound, shape=(input_dims, r))
        self.lora_b = mx.zeros(shape=(r, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(x.dtype)


def linear_to_lora_layers(model, num_layers, config):
    def to_lora(layer):
        return LoRALinear.from_base(
            layer, r=config["rank"], scale=config["scale"], dropout=config["dropout"]
        )

    keys = config.get("keys", None)
    if keys is not None:
        keys = set(keys)
    elif model.model_type in [
        "mistral",
        "llama",
        "phi",
        "mixtral",
        "nemotron",
        "stablelm",
        "qwen2",
        "qwen2_moe",
        "phimoe",
        "gemma",
        "gemma2",
        "granite",
        "helium",
        "starcoder2",
        "cohere",
        "cohere2",
        "minicpm",
        "deepseek",
        "olmo2",
        "internlm3",
    ]:
        keys = set(["self_attn.q_proj", "self_attn.v_proj"])
    elif model.model_type == "gpt2":
        keys = set(["attn.c_attn"])
    else:
        raise ValueError(f"Lora does not support {model.model_type}")

    for l in model.layers[-max(num_layers, 0):]:
        lora_layers = [(k, to_lora(m)) for k, m in l.named_modules() if k in keys]
        if lora_layers:
            l.update_modules(tree_unflatten(lora_layers))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, step_size):
    x, y = make_batch(step_size, 128)
    return (model(x).argmax(-1) == y).astype(mx.float32).mean().item()


def run_stage(model, opt, step_size, steps, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        x, y = make_batch(step_size, 32)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0 or it == 1:
            print(f"[{tag}] iter {it:4d} | loss {loss.item():.4f}", flush=True)


t0 = time.time()
model = TinyLM()
mx.eval(model.parameters())
print("stage 1: pretraining on +1 sequences")
run_stage(model, optim.AdamW(learning_rate=3e-3), 1, 120, "pretrain")
print(f"pretrain acc on +1: {accuracy(model, 1):.3f} | on +3: {accuracy(model, 3):.3f}")

print("stage 2: LoRA adaptation to +3 sequences")
model.freeze()
linear_to_lora_layers(model, LAYERS, {"rank": 8, "scale": 20.0, "dropout": 0.0})
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"trainable params: {n_train} / {n_total}")
run_stage(model, optim.Adam(learning_rate=1e-3), 3, 160, "lora")
print(f"adapted acc on +3: {accuracy(model, 3):.3f}")
print(f"done in {time.time() - t0:.1f}s")
