# Port of an InternLM2-style decoder (mlx-lm layout), checked against a
# reference checkpoint and then fine-tuned on a new split.
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


@dataclass
class ModelArgs:
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    rms_norm_eps: float
    vocab_size: int
    bias: bool = False
    max_position_embeddings: int = 64
    num_key_value_heads: Optional[int] = None
    rope_theta: float = 10000
    rope_traditional: bool = False
    rope_scaling: Optional[Dict] = None
    tie_word_embeddings: bool = False

    def __post_init__(self):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads


def initialize_rope(
    dims,
    base,
    traditional,
    scaling_config: Optional[dict] = None,
    max_position_embeddings: Optional[int] = None,
):
    if scaling_config is not None:
        rope_type = scaling_config.get("type") or scaling_config.get(
            "rope_type", "default"
        )
    else:
        rope_type = "default"

    if rope_type in ["default", "linear"]:
        scale = 1 / scaling_config["factor"] if rope_type == "linear" else 1.0
        return nn.RoPE(dims, traditional=traditional, base=base, scale=scale)

    elif rope_type == "dynamic":
        return DynamicNTKScalingRoPE(
            dims=dims,
            max_position_embeddings=max_position_embeddings,
            traditional=traditional,
            base=base,
            factor=scaling_config["factor"],
        )
    else:
        raise ValueError(f"Unsupported RoPE type {rope_type}")


class DynamicNTKScalingRoPE(nn.Module):

    def __init__(
        self,
        dims: int,
        max_position_embeddings: int,
        traditional: bool,
        base: float,
        factor: float,
    ):
        super().__init__()
        self.dims = dims
        self.max_position_embeddings = max_position_embeddings
        self.traditional = traditional
        self.base = base
        self.factor = factor

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        # x.shape: [batch, num_heads, seq_len, head_dim]
        seq_len = max(x.shape[-2] + offset, self.max_position_embeddings)
        base = self.base * (
            (self.factor * seq_len / self.max_position_embeddings) - (self.factor - 1)
        ) ** (self.dims / (self.dims - 2))
        return mx.fast.rope(
            x,
            self.dims,
            traditional=self.traditional,
            base=base,
            scale=1.0,
            offset=offset,
        )


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim = args.hidden_size
        self.n_heads = n_heads = args.num_attention_heads
        self.n_kv_heads = n_kv_heads = args.num_key_value_heads
        self.n_kv_groups = n_heads // args.num_key_value_heads
        self.head_dim = head_dim = args.hidden_size // n_heads
        self.scale = head_dim**-0.5

        self.wqkv = nn.Linear(
            dim, (n_heads + 2 * n_kv_heads) * head_dim, bias=args.bias
        )
        self.wo = nn.Linear(n_heads * head_dim, dim, bias=args.bias)

        self.rope = initialize_rope(
            head_dim,
            base=args.rope_theta,
            traditional=args.rope_traditional,
            scaling_config=args.rope_scaling,
            max_position_embeddings=args.max_position_embeddings,
        )

    def __call__(self, x, mask=None):
        B, L, D = x.shape
        qkv_states = self.wqkv(x)
        qkv_states = qkv_states.reshape(B, L, -1, 2 + self.n_kv_groups, self.head_dim)
        queries = qkv_states[..., : self.n_kv_groups, :]
        queries = queries.reshape(B, L, -1, self.head_dim)
        keys = qkv_states[..., -2, :]
        values = qkv_states[..., -1, :]
        queries = queries.transpose(0, 2, 1, 3)
        keys = keys.transpose(0, 2, 1, 3)
        values = values.transpose(0, 2, 1, 3)
        queries = self.rope(queries)
        keys = self.rope(keys)
        output = mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=self.scale, mask=mask
        )
        output = output.transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.wo(output)


class MLP(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = MLP(args.hidden_size, args.intermediate_size)
        self.attention_norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.ffn_norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x, mask=None):
        h = x + self.attention(self.attention_norm(x), mask)
        return h + self.feed_forward(self.ffn_norm(h))


class InternLM2Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, inputs):
        h = self.tok_embeddings(inputs)
        for layer in self.layers:
            h = layer(h, "causal")
        return self.norm(h)


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.model = InternLM2Model(args)
        self.output = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, inputs):
        return self.output(self.model(inputs))


CONFIG = dict(
    model_type="internlm2",
    hidden_size=32,
    num_hidden_layers=2,
    intermediate_size=64,
    num_attention_heads=4,
    num_key_value_heads=4,
    rms_norm_eps=1e-5,
    vocab_size=40,
    max_position_embeddings=64,
    rope_theta=10000.0,
    rope_scaling={"type": "dynamic", "factor": 2.0},
)
SEQ = 24
PERIOD = 6


def make_batch(rng, n, vocab):
    block = rng.integers(0, vocab, size=(n, PERIOD))
    seq = np.tile(block, (1, SEQ // PERIOD + 1))[:, : SEQ + 1]
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, batches):
    tot = 0.0
    for x, y in batches:
        tot += loss_fn(model, x, y).item()
    return tot / len(batches)


def train(model, rng, steps, lr, tag, val):
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.0)
    lg = nn.value_and_grad(model, loss_fn)
    for step in range(1, steps + 1):
        x, y = make_batch(rng, 16, CONFIG["vocab_size"])
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == 1:
            print(f"[{tag}] step {step:4d} loss {loss.item():.4f}", flush=True)
    v = evaluate(model, val)
    print(f"[{tag}] val loss {v:.4f}", flush=True)
    return v


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    args = ModelArgs(**CONFIG)
    val_rng = np.random.default_rng(123)
    val = [make_batch(val_rng, 64, args.vocab_size) for _ in range(2)]
    floor = (PERIOD - 1) / SEQ * math.log(args.vocab_size)
    print(f"sequence length {SEQ}, period {PERIOD}, loss floor ~{floor:.3f}")

    # 1) reference checkpoint: same weights layout, plain RoPE at base theta
    ref = Model(args)
    for layer in ref.model.layers:
        layer.attention.rope = nn.RoPE(
            layer.attention.head_dim, traditional=False, base=args.rope_theta
        )
    t0 = time.time()
    ref_val = train(ref, rng, 300, 3e-3, "reference", val)
    ckpt = os.path.join(tempfile.mkdtemp(), "reference.safetensors")
    ref.save_weights(ckpt)
    print(f"saved reference checkpoint ({time.time() - t0:.1f}s)")

    # 2) load the checkpoint into the port and check parity
    port = Model(args)
    port.load_weights(ckpt)
    mx.eval(port.parameters())
    port_val = evaluate(port, val)
    print(f"port val loss on loaded checkpoint {port_val:.4f} (reference {ref_val:.4f})")

    # 3) continue training the port on fresh data
    ft_val = train(port, rng, 150, 3e-4, "finetune", val)
    print(f"final: reference {ref_val:.4f} | port before finetune {port_val:.4f} | port after finetune {ft_val:.4f}")


if __name__ == "__main__":
    main()
