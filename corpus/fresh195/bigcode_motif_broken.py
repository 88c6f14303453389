# Tiny GPT-BigCode (multi-query attention) trained from scratch on a "motif repeat"
# corpus: each sequence is a random 4-token motif repeated 4 times. The first motif is
# unpredictable; every later token is a copy of the token 4 places back.
# Model code follows mlx_lm/models/gpt_bigcode.py.
import time
from dataclasses import dataclass
from typing import Any, Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def create_attention_mask(h, cache=None):
    return "causal" if h.shape[1] > 1 else None


@dataclass
class ModelArgs:
    n_embd: int = 64
    n_layer: int = 2
    n_inner: int = 128
    n_head: int = 4
    n_positions: int = 32
    layer_norm_epsilon: float = 1e-5
    vocab_size: int = 32
    multi_query: bool = True


class Attention(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.dim = dim = args.n_embd
        self.n_heads = args.n_head
        self.n_kv_heads = 1 if args.multi_query else args.n_head
        head_dim = dim // self.n_heads
        self.kv_dim = self.n_kv_heads * head_dim
        self.scale = head_dim**-0.5
        self.c_attn = nn.Linear(dim, dim + 2 * self.kv_dim)
        self.c_proj = nn.Linear(dim, dim)

    def __call__(self, x, mask=None, cache=None):
        B, L, D = x.shape
        qkv = self.c_attn(x)
        q, k, v = mx.split(qkv, [self.dim, self.dim + self.kv_dim], axis=-1)
        q = q.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.c_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


class MLP(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.c_fc = nn.Linear(args.n_embd, args.n_inner)
        self.c_proj = nn.Linear(args.n_inner, args.n_embd)

    def __call__(self, x):
        return self.c_proj(nn.gelu(self.c_fc(x)))


class TransformerBlock(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.attn = Attention(args)
        self.mlp = MLP(args)
        self.ln_1 = nn.LayerNorm(args.n_embd, eps=args.layer_norm_epsilon)
        self.ln_2 = nn.LayerNorm(args.n_embd, eps=args.layer_norm_epsilon)

    def __call__(self, x, mask=None, cache=None):
        h = x + self.attn(self.ln_1(x), mask, cache)
        return h + self.mlp(self.ln_2(h))


class GPTBigCodeModel(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.wte = nn.Embedding(args.vocab_size, args.n_embd)
        self.wpe = nn.Embedding(args.n_positions, args.n_embd)
        self.h = [TransformerBlock(args) for _ in range(args.n_layer)]
        self.ln_f = nn.LayerNorm(args.n_embd, eps=args.layer_norm_epsilon)

    def __call__(self, inputs, mask=None, cache=None):
        B, L = inputs.shape
        hidden_states = self.wte(inputs)

        mask = None
        if mask is not None and hidden_states.shape[1] > 1:
            mask = create_attention_mask(hidden_states, cache)

        if cache is None:
            cache = [None] * len(self.h)
            position_ids = mx.array(np.arange(L))
        else:
            position_ids = mx.array(np.arange(cache[0].offset, cache[0].offset + L))

        hidden_states += self.wpe(position_ids)
        for layer, c in zip(self.h, cache):
            hidden_states = layer(hidden_states, mask, cache=c)
        return self.ln_f(hidden_states)


class Model(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.transformer = GPTBigCodeModel(args)

    def __call__(self, inputs, mask=None, cache=None):
        return self.transformer.wte.as_linear(self.transformer(inputs, mask, cache))


V, MOTIF, REPS = 32, 4, 4
rng = np.random.default_rng(7)
# targets 1..3 are random draws: nothing can beat ln(V) on them
LOSS_FLOOR = (MOTIF - 1) / (MOTIF * REPS - 1) * np.log(V)


def make_batch(n):
    motif = rng.integers(0, V, size=(n, MOTIF))
    return mx.array(np.tile(motif, (1, REPS)).astype(np.int32))


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def generate_accuracy(model, batch):
    # greedy continuation from the first motif, recomputing over the prefix each step
    seq = batch[:, :MOTIF]
    for _ in range(batch.shape[1] - MOTIF):
        nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
        seq = mx.concatenate([seq, nxt[:, None].astype(seq.dtype)], axis=1)
    return (seq[:, MOTIF:] == batch[:, MOTIF:]).astype(mx.float32).mean().item()


mx.random.seed(0)
model = Model(ModelArgs())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)
val = make_batch(128)

ITERS, REPORT = 160, 20
tic = time.perf_counter()
losses = []
for it in range(1, ITERS + 1):
    batch = make_batch(32)
    loss, grads = loss_and_grad(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    losses.append(loss.item())
    if it % REPORT == 0:
        vl = loss_fn(model, val).item()
        dt = time.perf_counter() - tic
        print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Val loss {vl:.3f}, "
              f"It/sec {REPORT / dt:.2f}")
        losses, tic = [], time.perf_counter()

logits = model(val[:, :-1])
hit = (mx.argmax(logits[:, : MOTIF - 1], axis=-1) == val[:, 1:MOTIF]).astype(mx.float32)
print(f"Val loss {loss_fn(model, val).item():.3f} (entropy floor {LOSS_FLOOR:.3f})")
print(f"Next-token accuracy inside first motif: {hit.mean().item() * 100:.1f}% "
      f"(chance {100 / V:.1f}%)")
acc = generate_accuracy(model, val)
print(f"Greedy continuation accuracy (12 tokens after first motif): {acc * 100:.1f}%")
