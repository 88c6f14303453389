# Millrace tally: LoRA fine-tune of a tiny PLaMo-style decoder, then fuse the
# adapter into the base weights and check the fused model on held-out data.
import math
import os
import tempfile
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 48
DIM = 64
HEADS = 4
HIDDEN = 128
N_LAYERS = 4
LORA_LAYERS = 2
LORA_RANK = 8
SEQ = 24
BATCH = 16
ITERS = 120
LR = 2e-3


class LoRALinear(nn.Module):  # type: ignore
    @staticmethod
    def from_linear(linear: nn.Linear, lora_rank: int, bias: bool, scale: float) -> Any:
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits
        lora_lin = LoRALinear(input_dims, output_dims, lora_rank)
        lora_lin.linear = linear
        return lora_lin

    def to_linear(self) -> nn.Linear:
        linear = self.linear
        bias = "bias" in linear
        weight = linear.weight
        dtype = weight.dtype
        output_dims, input_dims = weight.shape
        fused_linear = nn.Linear(input_dims, output_dims, bias=bias)
        lora_b = (self.scale * self.lora_b.T).astype(dtype)
        lora_a = self.lora_a.T.astype(dtype)
        fused_linear.weight = weight + lora_b @ lora_a
        if bias:
            fused_linear.bias = linear.bias
        return fused_linear

    def __init__(self, input_dims: int, output_dims: int, lora_rank: int = 8, bias: bool = False, scale: float = 20.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.scale = scale
        bound = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-bound, high=bound, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(DIM, DIM, bias=False)
        self.k_proj = nn.Linear(DIM, DIM, bias=False)
        self.v_proj = nn.Linear(DIM, DIM, bias=False)
        self.o_proj = nn.Linear(DIM, DIM, bias=False)
        self.rope = nn.RoPE(DIM // HEADS)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=(DIM // HEADS) ** -0.5, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, -1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(DIM, HIDDEN, bias=False)
        self.up_proj = nn.Linear(DIM, HIDDEN, bias=False)
        self.down_proj = nn.Linear(HIDDEN, DIM, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(DIM)
        self.self_attn = Attention()
        self.mlp = MLP()

    def __call__(self, x, mask):
        h = self.norm(x)
        return x + self.self_attn(h, mask) + self.mlp(h)


class Layers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [Block() for _ in range(N_LAYERS)]


class Core(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.layers = Layers()
        self.norm = nn.RMSNorm(DIM)


class PlamoTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Core()
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, tokens):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1])
        h = self.model.embed_tokens(tokens)
        for layer in self.model.layers.layers:
            h = layer(h, mask)
        return self.lm_head(self.model.norm(h))


def make_batches(rng, n):
    # sequences follow x_{t+1} = (3 * x_t + 7) mod VOCAB, with a random start
    # and 10% token noise
    starts = rng.integers(0, VOCAB, size=(n, 1))
    seq = [starts[:, 0]]
    for _ in range(SEQ):
        seq.append((3 * seq[-1] + 7) % VOCAB)
    seq = np.stack(seq, axis=1)
    noise = rng.random(seq.shape) < 0.10
    seq = np.where(noise, rng.integers(0, VOCAB, size=seq.shape), seq)
    return mx.array(seq.astype(np.int32))


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def evaluate(model, data):
    return loss_fn(model, data).item()


def build_base(path):
    mx.random.seed(11)
    base = PlamoTiny()
    mx.eval(base.parameters())
    base.save_weights(path)
    return base


def load_base(path):
    model = PlamoTiny()
    model.load_weights(path)
    return model


def train_adapters(base_path, adapter_path, rng, valid):
    model = load_base(base_path)
    model.freeze()
    for layer in model.model.layers.layers[len(model.model.layers.layers) - LORA_LAYERS :]:
        layer.self_attn.q_proj = LoRALinear.from_linear(layer.self_attn.q_proj, LORA_RANK, False, 20.0)
        layer.self_attn.k_proj = LoRALinear.from_linear(layer.self_attn.k_proj, LORA_RANK, False, 20.0)
        layer.self_attn.v_proj = LoRALinear.from_linear(layer.self_attn.v_proj, LORA_RANK, False, 20.0)
        layer.self_attn.o_proj = LoRALinear.from_linear(layer.self_attn.o_proj, LORA_RANK, False, 20.0)
        layer.mlp.gate_proj = LoRALinear.from_linear(layer.mlp.gate_proj, LORA_RANK, False, 20.0)
        layer.mlp.up_proj = LoRALinear.from_linear(layer.mlp.up_proj, LORA_RANK, False, 20.0)
        layer.mlp.down_proj = LoRALinear.from_linear(layer.mlp.down_proj, LORA_RANK, False, 20.0)

    p = sum(v.size for _, v in tree_flatten(model.parameters())) / 10**6
    print(f"Total parameters {p:.3f}M")
    p = sum(v.size for _, v in tree_flatten(model.trainable_parameters())) / 10**6
    print(f"Trainable parameters {p:.3f}M")
    print(f"Iter 0: val loss {evaluate(model, valid):.3f}")

    opt = optim.Adam(learning_rate=LR)
    step = nn.value_and_grad(model, loss_fn)
    running = 0.0
    for it in range(1, ITERS + 1):
        batch = make_batches(rng, BATCH)
        loss, grads = step(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if it % 20 == 0:
            print(f"Iter {it}: train loss {running / 20:.3f}, val loss {evaluate(model, valid):.3f}")
            running = 0.0

    adapter_val = evaluate(model, valid)
    mx.savez(adapter_path, **dict(tree_flatten(model.trainable_parameters())))
    print(f"Saved adapter weights to {os.path.basename(adapter_path)}")
    return adapter_val


def fuse(base_path, adapter_path, save_path):
    model = load_base(base_path)

    # Load adapters and get number of LoRA layers
    adapters = list(mx.load(adapter_path).items())
    lora_layers = len([m for m in adapters if "q_proj.lora_a" in m[0]])

    # Freeze all layers other than LORA linears
    model.freeze()
    for layer in model.model.layers.layers[-lora_layers:]:
        # q_proj
        layer.self_attn.q_proj = LoRALinear.from_linear(layer.self_attn.q_proj, LORA_RANK, False, 20.0)
        # k_proj
        layer.self_attn.k_proj = LoRALinear.from_linear(layer.self_attn.k_proj, LORA_RANK, False, 20.0)
        # v_proj
        layer.self_attn.v_proj = LoRALinear.from_linear(layer.self_attn.v_proj, LORA_RANK, False, 20.0)
        # o_proj
        layer.self_attn.o_proj = LoRALinear.from_linear(layer.self_attn.o_proj, LORA_RANK, False, 20.0)
        # gate_proj
        layer.mlp.gate_proj = LoRALinear.from_linear(layer.mlp.gate_proj, LORA_RANK, False, 20.0)
        # up_proj
        layer.mlp.up_proj = LoRALinear.from_linear(layer.mlp.up_proj, LORA_RANK, False, 20.0)
        # down_proj
        layer.mlp.down_proj = LoRALinear.from_linear(layer.mlp.down_proj, LORA_RANK, False, 20.0)

    model.update(tree_unflatten(adapters))
    fused_linears = [(n, m.to_linear()) for n, m in model.named_modules() if isinstance(m, LoRALinear)]

    model.update_modules(tree_unflatten(fused_linears))
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(save_path, weights)
    print(f"Fused {len(fused_linears)} linears, saved {len(weights)} tensors")
    return model


def main():
    rng = np.random.default_rng(5)
    valid = make_batches(np.random.default_rng(99), 128)
    with tempfile.TemporaryDirectory() as tmp:
        base_path = os.path.join(tmp, "base.safetensors")
        adapter_path = os.path.join(tmp, "adapters.npz")
        fused_path = os.path.join(tmp, "fused.safetensors")

        base = build_base(base_path)
        base_val = evaluate(base, valid)
        print(f"Base model val loss {base_val:.3f}")

        adapter_val = train_adapters(base_path, adapter_path, rng, valid)
        print(f"Adapter model val loss {adapter_val:.3f}")

        print("Fusing adapters")
        fuse(base_path, adapter_path, fused_path)

        fused = PlamoTiny()
        fused.load_weights(fused_path)
        fused_val = evaluate(fused, valid)
        print(f"Fused model val loss {fused_val:.3f} (adapter {adapter_val:.3f}, base {base_val:.3f})")
        print(f"Fused model val ppl {math.exp(fused_val):.2f}")


if __name__ == "__main__":
    main()
