"""LoRA fine-tune of a tiny captioning decoder (image prefix + text) on synthetic pairs."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB, DIM, HEADS, LAYERS, PATCHES = 48, 64, 4, 2, 4


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, alpha=16.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / r
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(DIM, DIM, bias=False)
        self.k_proj = nn.Linear(DIM, DIM, bias=False)
        self.v_proj = nn.Linear(DIM, DIM, bias=False)
        self.o_proj = nn.Linear(DIM, DIM, bias=False)

    def __call__(self, x, mask=None):
        B, L, _ = x.shape
        hd = DIM // HEADS
        q = self.q_proj(x).reshape(B, L, HEADS, hd).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, HEADS, hd).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, HEADS, hd).transpose(0, 2, 1, 3)
        if mask is None:
            mask = "causal"
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=hd ** -0.5, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = SelfAttention()
        self.ln1 = nn.RMSNorm(DIM)
        self.ln2 = nn.RMSNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x, mask=None):
        x = x + self.self_attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


class TinyCaptioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_proj = nn.Linear(12, DIM)
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.layers = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, input_ids, pixel_values, mask=None):
        img = self.vision_proj(pixel_values)                  # (B, P, D)
        txt = self.embed_tokens(input_ids)                     # (B, T, D)
        h = mx.concatenate([img, txt], axis=1)
        for blk in self.layers:
            h = blk(h, mask)
        return self.lm_head(self.norm(h))[:, PATCHES:, :]


def make_batch(rng, bs=8, T=14):
    cls = rng.integers(0, 6, size=bs)
    pixels = rng.normal(size=(bs, PATCHES, 12)).astype(np.float32)
    pixels[np.arange(bs), :, cls] += 3.0
    ids = np.zeros((bs, T), dtype=np.int32)
    for i, c in enumerate(cls):
        ids[i] = (np.arange(T) * (c + 1) + c) % (VOCAB - 2) + 2
    attn = np.ones((bs, T + PATCHES), dtype=np.int32)
    return {"input_ids": mx.array(ids), "pixel_values": mx.array(pixels),
            "attention_mask": mx.array(attn)}


def vision_language_loss_fn(model, batch):
    ids = batch["input_ids"]
    inputs, labels = ids[:, :-1], ids[:, 1:]
    logits = model(inputs, batch["pixel_values"], batch["attention_mask"])
    return nn.losses.cross_entropy(logits, labels, reduction="mean")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = TinyCaptioner()
    model.freeze()
    for blk in model.layers:
        blk.self_attn.q_proj = LoRALinear(blk.self_attn.q_proj)
        blk.self_attn.v_proj = LoRALinear(blk.self_attn.v_proj)
    model.lm_head.unfreeze()
    model.vision_proj.unfreeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_train}")

    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, vision_language_loss_fn)
    t0 = time.time()
    running = 0.0
    for it in range(1, 301):
        batch = make_batch(rng)
        loss, grads = loss_and_grad(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if it % 30 == 0:
            print(f"Iter {it}: Train loss {running / 30:.3f}, It/sec {it / (time.time() - t0):.1f}")
            running = 0.0


if __name__ == "__main__":
    main()
