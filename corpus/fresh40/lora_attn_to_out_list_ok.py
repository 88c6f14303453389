"""Pre-train a tiny transformer denoiser on one family of signals, then LoRA
fine-tune it on a second family.  The attention output projection is stored
as a list (``attn.to_out = [Linear]``) like in diffusers/mflux transformer
blocks, so the LoRA wrapper has to be placed at ``to_out[0]``.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEQ, DIM, HEADS, DEPTH = 16, 32, 4, 2
rng = np.random.default_rng(4)
mx.random.seed(4)


def make_batch(freqs, n=64):
    t = np.linspace(0, 1, SEQ, dtype=np.float32)
    f = rng.choice(freqs, size=(n, 1, 1))
    ph = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    ch = np.arange(8, dtype=np.float32)[None, None, :]
    clean = np.sin(2 * np.pi * f * t[None, :, None] + ph + 0.3 * ch).astype(np.float32)
    noisy = clean + rng.normal(0, 0.5, size=clean.shape).astype(np.float32)
    return mx.array(noisy), mx.array(clean)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.to_q = nn.Linear(DIM, DIM)
        self.to_k = nn.Linear(DIM, DIM)
        self.to_v = nn.Linear(DIM, DIM)
        self.to_out = [nn.Linear(DIM, DIM)]

    def __call__(self, x):
        B, L, _ = x.shape
        q, k, v = (p(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
                   for p in (self.to_q, self.to_k, self.to_v))
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(DIM // HEADS))
        o = o.transpose(0, 2, 1, 3).reshape(B, L, DIM)
        return self.to_out[0](o)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, DIM)
        self.pos = mx.random.normal((SEQ, DIM)) * 0.02
        self.transformer_blocks = [Block() for _ in range(DEPTH)]
        self.out = nn.Linear(DIM, 8)

    def __call__(self, x):
        h = self.inp(x) + self.pos
        for blk in self.transformer_blocks:
            h = blk(h)
        return self.out(h)


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, r=4, scale=1.0):
        out_d, in_d = linear.weight.shape
        lora = LoRALinear(in_d, out_d, r, scale)
        lora.linear = linear
        return lora

    def __init__(self, in_d, out_d, r, scale):
        super().__init__()
        self.linear = nn.Linear(in_d, out_d)
        self.scale = scale
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def run(model, opt, freqs, steps, tag, every):
    step_fn = nn.value_and_grad(model, mse)
    hist = []
    for i in range(1, steps + 1):
        x, y = make_batch(freqs)
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        hist.append(loss.item())
        if i % every == 0:
            print(f"| {tag:<9} | {i:5d} | {np.mean(hist[-every:]):.4f} |", flush=True)


def eval_loss(model, freqs, n=8):
    return float(np.mean([mse(model, *make_batch(freqs, 128)).item() for _ in range(n)]))


FREQS_A = [1.0, 1.5, 2.0]
FREQS_B = [3.0, 3.5, 4.0]

model = Denoiser()
mx.eval(model.parameters())
print("| phase     |  step | loss   |")
print("|-----------|-------|--------|")
t0 = time.time()
run(model, optim.Adam(learning_rate=2e-3), FREQS_A, 400, "pretrain", 100)
print(f"pretrained: task-A mse {eval_loss(model, FREQS_A):.4f}, task-B mse {eval_loss(model, FREQS_B):.4f}")

# ---- LoRA fine-tuning on task B -------------------------------------------
model.freeze()
lora_layers = {}
for i, blk in enumerate(model.transformer_blocks):
    for name in ("to_q", "to_v", "to_out"):
        original = getattr(blk.attn, name)
        is_list = isinstance(original, list)
        lora = LoRALinear.from_linear(original[0] if is_list else original, r=4, scale=2.0)
        lora_layers[f"transformer_blocks.{i}.attn.{name}"] = [lora] if is_list else lora


def set_lora_layers(model, lora_layers):
    for i, block in enumerate(model.transformer_blocks):
        val = {k.split(".")[-1]: v for k, v in lora_layers.items()
               if k.startswith(f"transformer_blocks.{i}.attn.")}
        for name in ("to_q", "to_v", "to_out"):
            if block["attn"].get(name, False) and val.get(name, False):
                if name == "to_out" and isinstance(block["attn"][name], list):
                    if len(block["attn"][name]) > 0:
                        lora_layer = val[name][0] if isinstance(val[name], list) else val[name]
                        block["attn"][name][0] = lora_layer
                else:
                    block["attn"][name] = val[name]


set_lora_layers(model, lora_layers)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable LoRA parameters: {n_train}")
run(model, optim.AdamW(learning_rate=3e-3, weight_decay=0.0), FREQS_B, 600, "lora-ft", 100)
print(f"after LoRA: task-A mse {eval_loss(model, FREQS_A):.4f}, task-B mse {eval_loss(model, FREQS_B):.4f}")
print(f"done in {time.time() - t0:.1f}s")
