"""Prompt-masked SFT of a tiny Phi-3 style decoder on quarry ledger entries.

Each entry: prompt "<block code>=" and completion "<tonnage class>;" where the
class is the closing face letter and the block code length.
"""
import time
from dataclasses import dataclass
from typing import Any, Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = list("#abcdefgh0123456789=;")
PAD = 0
STOI = {c: i for i, c in enumerate(VOCAB)}


def scaled_dot_product_attention(queries, keys, values, scale, mask=None):
    return mx.fast.scaled_dot_product_attention(queries, keys, values, scale=scale, mask=mask)


@dataclass
class ModelArgs:
    vocab_size: int = len(VOCAB)
    hidden_size: int = 64
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    num_hidden_layers: int = 2
    intermediate_size: int = 128
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    partial_rotary_factor: float = 1.0


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim = args.hidden_size
        self.n_heads = n_heads = args.num_attention_heads
        self.n_kv_heads = n_kv_heads = args.num_key_value_heads
        self.head_dim = head_dim = dim // n_heads
        self.scale = head_dim**-0.5
        op_size = n_heads * head_dim + 2 * (n_kv_heads * head_dim)
        self.qkv_proj = nn.Linear(dim, op_size, bias=False)
        self.o_proj = nn.Linear(n_heads * head_dim, dim, bias=False)
        rope_dim = int(head_dim * args.partial_rotary_factor)
        self.rope = nn.RoPE(rope_dim, traditional=False, base=args.rope_theta)

    def __call__(self, x: mx.array, mask: Optional[mx.array] = None, cache: Optional[Any] = None):
        B, L, D = x.shape
        qkv = self.qkv_proj(x)
        query_pos = self.n_heads * self.head_dim
        queries, keys, values = mx.split(
            qkv, [query_pos, query_pos + self.n_kv_heads * self.head_dim], axis=-1
        )
        queries = queries.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        if cache is not None:
            queries = self.rope(queries, offset=cache.offset)
            keys = self.rope(keys, offset=cache.offset)
            keys, values = cache.update_and_fetch(keys, values)
        else:
            queries = self.rope(queries)
            keys = self.rope(keys)
        output = scaled_dot_product_attention(
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
        gate, x = mx.split(self.gate_up_proj(x), 2, axis=-1)
        return self.down_proj(nn.silu(gate) * x)


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.self_attn = Attention(args)
        self.mlp = MLP(args.hidden_size, args.intermediate_size)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x, mask=None, cache=None):
        h = x + self.self_attn(self.input_layernorm(x), mask, cache)
        return h + self.mlp(self.post_attention_layernorm(h))


class Phi3Tiny(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, inputs, cache=None):
        h = self.embed_tokens(inputs)
        mask = "causal" if h.shape[1] > 1 else None
        if cache is None:
            cache = [None] * len(self.layers)
        for layer, c in zip(self.layers, cache):
            h = layer(h, mask, c)
        return self.lm_head(self.norm(h))


# ---------------- data pipeline ----------------
rng = np.random.default_rng(7)


def make_entry():
    n = int(rng.integers(3, 9))
    code = "".join(rng.choice(list("abcdefgh"), size=n))
    completion = f"{code[-1]}{len(code)};"
    return code + "=", completion


def encode(prompt, completion):
    toks = [STOI[c] for c in prompt + completion]
    return toks, len(prompt)


def build(n):
    return [encode(*make_entry()) for _ in range(n)]


def iterate_batches(data, batch_size, train=True):
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    batches = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    if train:
        rng.shuffle(batches)
    for b in batches:
        lengths = [len(data[i][0]) for i in b]
        offsets = [data[i][1] for i in b]
        arr = np.full((len(b), max(lengths)), PAD, np.int32)
        for j, i in enumerate(b):
            arr[j, : lengths[j]] = data[i][0]
        yield mx.array(arr), mx.array(offsets), mx.array(lengths)


def loss_fn(model, batch, offsets, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= offsets[:, None], steps < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def exact_match(model, data):
    hits = 0
    for toks, off in data:
        seq = list(toks[:off])
        for _ in range(len(toks) - off):
            logits = model(mx.array([seq]))
            seq.append(int(mx.argmax(logits[0, -1]).item()))
        hits += seq[off:] == list(toks[off:])
    return hits / len(data)


def main():
    mx.random.seed(0)
    train_set, val_set = build(2400), build(200)
    model = Phi3Tiny(ModelArgs())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    print(f"train entries {len(train_set)}  val entries {len(val_set)}")

    step, t0 = 0, time.time()
    for epoch in range(1, 5):
        tot, ntok = 0.0, 0
        for batch, offsets, lengths in iterate_batches(train_set, 32):
            (loss, toks), grads = loss_and_grad(model, batch, offsets, lengths)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            tot += loss.item() * toks.item()
            ntok += toks.item()
            if step % 40 == 0:
                print(f"epoch {epoch} step {step:4d}  train loss {tot / ntok:.4f}")
        vtot, vtok = 0.0, 0
        for batch, offsets, lengths in iterate_batches(val_set, 25, train=False):
            loss, toks = loss_fn(model, batch, offsets, lengths)
            vtot += loss.item() * toks.item()
            vtok += toks.item()
        print(f"epoch {epoch} val loss {vtot / vtok:.4f}  ({time.time() - t0:.1f}s)")
    print(f"val exact match {exact_match(model, val_set[:100]):.2f}")


if __name__ == "__main__":
    main()
