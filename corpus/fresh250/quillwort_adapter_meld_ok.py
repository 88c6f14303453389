# LoRA finetune of a small PLaMo-style decoder, then merge the adapters into the base weights.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB, HIDDEN, HEADS, N_LAYERS, FFN = 48, 64, 4, 4, 128
LORA_LAYERS, SEQ, BATCH, ITERS = 2, 16, 16, 100


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8):
        output_dims, input_dims = linear.weight.shape
        lora_lin = LoRALinear(input_dims, output_dims, rank)
        lora_lin.linear = linear
        return lora_lin

    def to_linear(self):
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

    def __init__(self, input_dims, output_dims, lora_rank=8, bias=False, scale=20.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.scale = scale
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_heads = HEADS
        self.q_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.k_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.v_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.o_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.rope = nn.RoPE(HIDDEN // HEADS)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask=mask)
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(HIDDEN, FFN, bias=False)
        self.up_proj = nn.Linear(HIDDEN, FFN, bias=False)
        self.down_proj = nn.Linear(FFN, HIDDEN, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class PlamoDecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.mlp = MLP()
        self.norm = nn.RMSNorm(HIDDEN)

    def __call__(self, h, mask):
        x = self.norm(h)
        # parallel attention / MLP branches
        return h + self.self_attn(x, mask) + self.mlp(x)


class PlamoDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [PlamoDecoderLayer() for _ in range(N_LAYERS)]


class PlamoModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = PlamoDecoder()
        self.norm = nn.RMSNorm(HIDDEN)

    def __call__(self, inputs):
        h = self.embed_tokens(inputs)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1]).astype(h.dtype)
        for layer in self.layers.layers:
            h = layer(h, mask)
        return self.norm(h)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = PlamoModel()
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)

    def __call__(self, inputs):
        return self.lm_head(self.model(inputs))


def make_batch(key, n):
    # target: each token mapped through a constant affine permutation
    toks = mx.random.randint(0, VOCAB, (n, SEQ + 1), key=key)
    nxt = (toks[:, :-1] * 7 + 3) % VOCAB
    return toks[:, :-1], nxt


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    t0 = time.time()
    workdir = tempfile.mkdtemp(None, "plamo_lora_")
    base_file = os.path.join(workdir, "base.safetensors")
    adapter_file = os.path.join(workdir, "adapters.npz")

    mx.random.seed(0)
    model = Model()
    mx.eval(model.parameters())
    model.save_weights(base_file)

    vx, vy = make_batch(mx.random.key(999), 256)
    print(f"base model val loss {loss_fn(model, vx, vy).item():.4f}")

    model.freeze()
    for layer in model.model.layers.layers[len(model.model.layers.layers) - LORA_LAYERS :]:
        layer.self_attn.q_proj = LoRALinear.from_linear(layer.self_attn.q_proj)
        layer.self_attn.v_proj = LoRALinear.from_linear(layer.self_attn.v_proj)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable params {n_train} / {n_total}")

    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, loss_fn)
    for it in range(ITERS):
        x, y = make_batch(mx.random.key(it), BATCH)
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (it + 1) % 20 == 0:
            print(f"Iter {it + 1}: train loss {loss.item():.4f}")
    adapter_val = loss_fn(model, vx, vy).item()
    print(f"adapter val loss {adapter_val:.4f}")
    mx.savez(adapter_file, **dict(tree_flatten(model.trainable_parameters())))
    print(f"saved adapter weights to {adapter_file}")

    # ---- fuse: reload base, attach adapters, merge ----
    print("Loading pretrained model")
    fused = Model()
    fused.load_weights(base_file)
    adapters = list(mx.load(adapter_file).items())
    lora_layers = len([m for m in adapters if "q_proj.lora_a" in m[0]])
    print(f"found {lora_layers} adapted layers")

    fused.freeze()
    for layer in fused.model.layers.layers[-lora_layers:]:
        layer.self_attn.q_proj = LoRALinear.from_linear(layer.self_attn.q_proj)
        layer.self_attn.v_proj = LoRALinear.from_linear(layer.self_attn.v_proj)

    fused.update(tree_unflatten(adapters))
    fused_linears = [(n, m.to_linear()) for n, m in fused.named_modules() if isinstance(m, LoRALinear)]
    fused.update_modules(tree_unflatten(fused_linears))
    fused_val = loss_fn(fused, vx, vy).item()
    print(f"merged {len(fused_linears)} linears, fused val loss {fused_val:.4f} (adapter {adapter_val:.4f})")
    weights = dict(tree_flatten(fused.parameters()))
    out_file = os.path.join(workdir, "fused.safetensors")
    mx.save_safetensors(out_file, weights)
    print(f"saved fused model ({len(weights)} tensors) in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
