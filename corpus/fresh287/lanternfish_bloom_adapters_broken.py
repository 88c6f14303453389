# LoRA fine-tune of a small phi3-style decoder on a synthetic "shifted counting" corpus.
# Follows the mlx_lm tuner flow: freeze base, convert linear layers to LoRA, train adapters.
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten


@dataclass
class ModelArgs:
    model_type: str = "phi3"
    hidden_size: int = 64
    num_hidden_layers: int = 2
    intermediate_size: int = 128
    num_attention_heads: int = 4
    num_key_value_heads: Optional[int] = None
    rms_norm_eps: float = 1e-5
    vocab_size: int = 48
    rope_theta: float = 10000.0

    def __post_init__(self):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim = args.hidden_size
        self.n_heads = n_heads = args.num_attention_heads
        self.n_kv_heads = n_kv_heads = args.num_key_value_heads
        head_dim = dim // n_heads
        self.scale = head_dim**-0.5
        op_size = n_heads * head_dim + 2 * (n_kv_heads * head_dim)
        self.qkv_proj = nn.Linear(dim, op_size, bias=False)
        self.o_proj = nn.Linear(n_heads * head_dim, dim, bias=False)
        self.rope = nn.RoPE(head_dim, traditional=False, base=args.rope_theta)

    def __call__(self, x, mask=None):
        B, L, D = x.shape
        qkv = self.qkv_proj(x)
        query_pos = self.n_heads * (D // self.n_heads)
        kv = self.n_kv_heads * (D // self.n_heads)
        queries = qkv[..., :query_pos]
        keys = qkv[..., query_pos : query_pos + kv]
        values = qkv[..., query_pos + kv :]
        queries = queries.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        queries = self.rope(queries)
        keys = self.rope(keys)
        output = mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=self.scale, mask=mask
        )
        output = output.transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.o_proj(output)


class MLP(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.gate_up_proj = nn.Linear(dim, 2 * hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)

    def __call__(self, x):
        x = self.gate_up_proj(x)
        gate, x = mx.split(x, 2, axis=-1)
        return self.down_proj(nn.silu(gate) * x)


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.self_attn = Attention(args)
        self.mlp = MLP(args.hidden_size, args.intermediate_size)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(
            args.hidden_size, eps=args.rms_norm_eps
        )

    def __call__(self, x, mask=None):
        h = x + self.self_attn(self.input_layernorm(x), mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class Phi3Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, inputs):
        h = self.embed_tokens(inputs)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1]).astype(
            h.dtype
        )
        for layer in self.layers:
            h = layer(h, mask)
        return self.norm(h)


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.model_type = args.model_type
        self.model = Phi3Model(args)
        self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, inputs):
        return self.lm_head(self.model(inputs))

    @property
    def layers(self):
        return self.model.layers


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(
        linear: nn.Linear,
        r: int = 8,
        alpha: float = 16,
        dropout: float = 0.0,
        scale: float = 10.0,
    ):
        output_dims, input_dims = linear.weight.shape
        lora_lin = LoRALinear(
            input_dims=input_dims,
            output_dims=output_dims,
            r=r,
            alpha=alpha,
            dropout=dropout,
            scale=scale,
        )
        lora_lin.linear = linear
        return lora_lin

    def __init__(
        self,
        input_dims: int,
        output_dims: int,
        r: int = 8,
        alpha: float = 16,
        dropout: float = 0.0,
        scale: float = 10.0,
        bias: bool = False,
    ):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale * (alpha / r)
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(
            low=-scale,
            high=scale,
            shape=(input_dims, r),
        )
        self.lora_b = mx.zeros(shape=(r, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(x.dtype)


def linear_to_lora_layers(
    model: nn.Module,
    num_lora_layers: int,
    config: Dict,
):
    num_layers = len(model.layers)
    if num_lora_layers > num_layers:
        raise ValueError(
            f"Requested {num_lora_layers} LoRA layers "
            f"but the model only has {num_layers} layers."
        )

    to_lora = lambda lin: LoRALinear.from_linear(
        lin,
        r=config["rank"],
        alpha=config["alpha"],
        scale=config["scale"],
        dropout=config["dropout"],
    )

    keys = config.get("keys", None)
    if keys is not None:
        keys = set(keys)
    elif model.model_type in [
        "mistral",
        "llama",
        "phi",
        "phi3",
        "mixtral",
        "stablelm",
        "qwen2",
        "qwen2_moe",
        "gemma",
        "starcoder2",
        "cohere",
    ]:
        keys = set(["self_attn.q_proj", "self_attn.v_proj"])
        if model.model_type == "mixtral":
            keys.add("block_sparse_moe.gate")
        if model.model_type == "qwen2_moe":
            keys.add("mlp.gate")
            keys.add("mlp.shared_expert_gate")
    elif model.model_type == "olmo":
        keys = set(["att_proj"])
    elif model.model_type == "phi-msft":
        keys = set(["mixer.Wqkv", "moe.gate"])
    elif model.model_type == "dbrx":
        keys = set(["norm_attn_norm.attn.Wqkv", "ffn.router.layer"])
    else:
        raise ValueError(f"Lora does not support {model.model_type}")

    for l in model.layers[num_layers - num_lora_layers :]:
        lora_layers = [(k, to_lora(m)) for k, m in l.named_modules() if k in keys]
        l.update_modules(tree_unflatten(lora_layers))


def make_corpus(rng, n, seq_len, vocab):
    # each sequence counts upward with a stride chosen by its first token
    starts = rng.integers(0, vocab, size=n)
    strides = 1 + (starts % 5)
    pos = np.arange(seq_len)[None, :]
    return ((starts[:, None] + strides[:, None] * pos) % vocab).astype(np.int32)


def iterate_batches(data, batch_size, rng):
    while True:
        idx = rng.permutation(len(data))
        for s in range(0, len(idx) - batch_size + 1, batch_size):
            b = mx.array(data[idx[s : s + batch_size]])
            yield b[:, :-1], b[:, 1:]


def loss_fn(model, inputs, targets):
    logits = model(inputs).astype(mx.float32)
    return nn.losses.cross_entropy(logits, targets).mean()


def evaluate(model, data, batch_size):
    losses = []
    for s in range(0, len(data) - batch_size + 1, batch_size):
        b = mx.array(data[s : s + batch_size])
        losses.append(loss_fn(model, b[:, :-1], b[:, 1:]).item())
    return float(np.mean(losses))


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    args = ModelArgs()
    model = Model(args)
    mx.eval(model.parameters())

    train_set = make_corpus(rng, 2048, 25, args.vocab_size)
    valid_set = make_corpus(rng, 256, 25, args.vocab_size)

    model.freeze()
    lora_parameters = {"rank": 8, "alpha": 16, "dropout": 0.0, "scale": 10.0}
    linear_to_lora_layers(model, args.num_hidden_layers, lora_parameters)

    p = sum(v.size for _, v in tree_flatten(model.trainable_parameters())) / 10**6
    print(f"Trainable parameters: {p:.4f}M")
    p = sum(v.size for _, v in tree_flatten(model.parameters())) / 10**6
    print(f"Total parameters: {p:.4f}M")

    batch_size, iters, steps_per_report, steps_per_eval = 32, 160, 20, 80
    optimizer = optim.Adam(learning_rate=1e-3)
    loss_value_and_grad = nn.value_and_grad(model, loss_fn)

    print(f"Iter 0: Val loss {evaluate(model, valid_set, batch_size):.3f}")
    losses = []
    tic = time.perf_counter()
    batches = iterate_batches(train_set, batch_size, rng)
    for it in range(1, iters + 1):
        inputs, targets = next(batches)
        lvalue, grad = loss_value_and_grad(model, inputs, targets)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, lvalue)
        losses.append(lvalue.item())
        if it % steps_per_report == 0:
            toc = time.perf_counter()
            print(
                f"Iter {it}: Train loss {np.mean(losses):.3f}, "
                f"Learning Rate {optimizer.learning_rate.item():.3e}, "
                f"It/sec {steps_per_report / (toc - tic):.3f}"
            )
            losses = []
            tic = time.perf_counter()
        if it % steps_per_eval == 0:
            print(f"Iter {it}: Val loss {evaluate(model, valid_set, batch_size):.3f}")

    adapter_file = os.path.join(tempfile.mkdtemp(), "adapters.safetensors")
    mx.save_safetensors(adapter_file, dict(tree_flatten(model.trainable_parameters())))
    print(f"Saved final adapter weights to {adapter_file}.")


if __name__ == "__main__":
    main()
