"""Sluice-gate controller LM: LoRA adaptation of a small causal model, then
save a merged checkpoint and reload it for the deployment check."""
import json
import math
import shutil
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 24
SEQ = 16
CFG = {"vocab_size": VOCAB, "dims": 64, "heads": 4, "layers": 2}


class LoRALinear(nn.Module):
    @staticmethod
    def from_base(linear, r=8, scale=10.0):
        out_d, in_d = linear.weight.shape
        lora = LoRALinear(in_d, out_d, r=r, scale=scale, bias="bias" in linear)
        lora.linear = linear
        return lora

    def fuse(self, dequantize=False):
        linear = self.linear
        bias = "bias" in linear
        weight = linear.weight
        out_d, in_d = weight.shape
        fused = nn.Linear(in_d, out_d, bias=bias)
        delta = (self.scale * self.lora_b.T) @ self.lora_a.T
        fused.weight = weight + delta.astype(weight.dtype)
        if bias:
            fused.bias = linear.bias
        return fused

    def __init__(self, in_d, out_d, r=8, scale=10.0, bias=False):
        super().__init__()
        self.linear = nn.Linear(in_d, out_d, bias=bias)
        self.scale = scale
        bound = 1 / math.sqrt(in_d)
        self.lora_a = mx.random.uniform(-bound, bound, (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(x.dtype)


class Attention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q = self.q_proj(x).reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(q.shape[-1]), mask=mask
        )
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.attn_norm = nn.RMSNorm(d)
        self.self_attn = Attention(d, h)
        self.mlp_norm = nn.RMSNorm(d)
        self.up_proj = nn.Linear(d, 2 * d, bias=False)
        self.down_proj = nn.Linear(2 * d, d, bias=False)

    def __call__(self, x, mask):
        x = x + self.self_attn(self.attn_norm(x), mask)
        return x + self.down_proj(nn.gelu(self.up_proj(self.mlp_norm(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab_size, dims, heads, layers):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.layers = [Block(dims, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(dims)
        self.lm_head = nn.Linear(dims, vocab_size, bias=False)

    def __call__(self, tokens):
        L = tokens.shape[1]
        x = self.embed_tokens(tokens) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for blk in self.layers:
            x = blk(x, mask)
        return self.lm_head(self.norm(x))


def make_batch(n, shift):
    # gate-position sequences: each next token advances by `shift` mod VOCAB
    start = mx.random.randint(0, VOCAB, (n, 1))
    steps = mx.arange(SEQ + 1)[None, :] * shift
    seq = (start + steps) % VOCAB
    return seq[:, :-1], seq[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    pred = mx.argmax(model(x), axis=-1)
    return (pred == y).astype(mx.float32).mean().item()


def train(model, shift, steps, lr, tag):
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.0)
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        x, y = make_batch(16, shift)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0 or it == 1:
            print(f"[{tag}] iter {it:4d}  train loss {loss.item():.4f}")


def linear_to_lora_layers(model, keys):
    for blk in model.layers:
        mods = [(k, LoRALinear.from_base(m)) for k, m in blk.named_modules()
                if k in keys]
        blk.update_modules(tree_unflatten(mods))


def save_model_hf_format(model, output_dir, config):
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    print(f"Saving merged model to {output_dir}...")
    actual_model = model

    weights = dict(tree_flatten(actual_model.parameters()))
    mx.save_safetensors(str(output_dir / "model.safetensors"), weights,
                        metadata={"format": "mlx"})
    with open(output_dir / "config.json", "w") as f:
        json.dump(config, f, indent=2)
    print(f"Model saved to {output_dir} ({len(weights)} tensors)")


def load_merged(path):
    path = Path(path)
    config = json.loads((path / "config.json").read_text())
    model = TinyLM(**config)
    model.load_weights(str(path / "model.safetensors"))
    mx.eval(model.parameters())
    return model


def main():
    t0 = time.time()
    mx.random.seed(7)
    model = TinyLM(**CFG)
    mx.eval(model.parameters())

    print("== stage 1: base model on upstream gate pattern (shift 1)")
    train(model, shift=1, steps=80, lr=3e-3, tag="base")

    xe, ye = make_batch(256, 5)
    print(f"base accuracy on downstream pattern (shift 5): {accuracy(model, xe, ye):.3f}")

    print("== stage 2: LoRA adaptation to downstream pattern (shift 5)")
    model.freeze()
    linear_to_lora_layers(model, {"self_attn.q_proj", "self_attn.v_proj",
                                  "up_proj", "down_proj"})
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable parameters: {n_train}")
    train(model, shift=5, steps=120, lr=2e-3, tag="lora")
    acc_live = accuracy(model, xe, ye)
    print(f"adapted accuracy (live adapters): {acc_live:.3f}")

    out = Path("sluicegate_merged_out")
    shutil.rmtree(out, ignore_errors=True)
    save_model_hf_format(model, out, CFG)

    print("== deployment check: reload merged checkpoint")
    reloaded = load_merged(out)
    acc_reload = accuracy(reloaded, xe, ye)
    print(f"reloaded accuracy: {acc_reload:.3f} (live {acc_live:.3f})")
    shutil.rmtree(out, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
