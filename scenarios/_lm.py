"""A tiny byte-level decoder-only LM in the Llama shape, plus its loss and evaluation.

Job: the shared real model that scenario modules train (correctly or in a broken way). Token
embedding (256 bytes) -> N x [RMSNorm -> causal self-attention with RoPE -> residual; RMSNorm ->
SwiGLU MLP -> residual] -> RMSNorm -> untied LM head.

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other parent-side
modules): it runs inside scenario child processes.

Measured (mlx 0.32.4 CPU build, 2 cores, 2026-11-21), default `LMConfig()` (dims 32, 1 layer,
2 heads, hidden 64: 26,720 parameters), batch 8 x seq 32, AdamW lr 3e-3, the correct loop
`nn.value_and_grad(model, next_token_loss)` + `optimizer.update` + `mx.eval(loss,
model.parameters(), optimizer.state)` on `_text.split()[0]`:
  - one training step: ~9 ms (median over 300 steps, after warm-up; 8.7-9.3 ms across runs);
  - validation loss (`evaluate`): 5.73 at init (ln 256 = 5.55) -> 2.96 after 100 steps ->
    2.81 after 200 -> 2.71 after 300.
The defaults are this small because the mlx-cpu Linux wheel links the reference (netlib) BLAS:
a 256x64x128 matmul takes ~0.6 ms (~3.5 GFLOP/s). Bigger configs, same loop: dims 32 / 2
layers: ~15 ms per step, val 2.76 at 300 steps; dims 64 / 2 layers / 4 heads / hidden 128
(115,008 parameters): ~36 ms per step, val 2.84 at 300 steps.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ._text import batches as text_batches


@dataclass(frozen=True)
class LMConfig:
    dims: int = 32
    layers: int = 1
    heads: int = 2
    hidden: int = 64
    vocab: int = 256


class Attention(nn.Module):
    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.q_proj = nn.Linear(config.dims, config.dims, bias=False)
        self.k_proj = nn.Linear(config.dims, config.dims, bias=False)
        self.v_proj = nn.Linear(config.dims, config.dims, bias=False)
        self.o_proj = nn.Linear(config.dims, config.dims, bias=False)
        self.rope = nn.RoPE(config.dims // config.heads)

    def _split_heads(self, x: mx.array) -> mx.array:
        b, t, d = x.shape
        return x.reshape(b, t, self.heads, d // self.heads).transpose(0, 2, 1, 3)

    def __call__(self, x: mx.array) -> mx.array:
        b, t, d = x.shape
        q = self.rope(self._split_heads(self.q_proj(x)))
        k = self.rope(self._split_heads(self.k_proj(x)))
        v = self._split_heads(self.v_proj(x))
        scale = 1.0 / math.sqrt(d // self.heads)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask="causal")
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(b, t, d))


class SwiGLU(nn.Module):
    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.dims, config.hidden, bias=False)
        self.up_proj = nn.Linear(config.dims, config.hidden, bias=False)
        self.down_proj = nn.Linear(config.hidden, config.dims, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.dims)
        self.attn = Attention(config)
        self.mlp_norm = nn.RMSNorm(config.dims)
        self.mlp = SwiGLU(config)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class TinyLM(nn.Module):
    """Byte-level Llama-shaped LM: `model(tokens)` -> logits of shape (batch, seq, vocab)."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.dims)
        self.blocks = [Block(config) for _ in range(config.layers)]
        self.norm = nn.RMSNorm(config.dims)
        self.lm_head = nn.Linear(config.dims, config.vocab, bias=False)

    def hidden(self, x: mx.array) -> mx.array:
        """Final-normed hidden states for input embeddings x of shape (batch, seq, dims)."""
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def __call__(self, tokens: mx.array) -> mx.array:
        return self.lm_head(self.hidden(self.embed(tokens)))


def next_token_loss(model: TinyLM, tokens: mx.array) -> mx.array:
    """Mean cross-entropy of predicting tokens[:, 1:] from tokens[:, :-1]."""
    logits = model(tokens[:, :-1])
    return nn.losses.cross_entropy(logits, tokens[:, 1:], reduction="mean")


def make_model(seed: int = 0, config: LMConfig | None = None) -> TinyLM:
    """A freshly initialised TinyLM, deterministic per seed, parameters already evaluated."""
    mx.random.seed(seed)
    model = TinyLM(config or LMConfig())
    mx.eval(model.parameters())
    return model


def evaluate(
    model: TinyLM, data: np.ndarray, batches: int = 4, batch: int = 8, seq: int = 32,
    seed: int = 1234,
) -> float:
    """Mean next-token loss over fixed windows of `data` (same windows for the same seed)."""
    windows = itertools.islice(text_batches(data, batch, seq, seed), batches)
    losses = [next_token_loss(model, tokens) for tokens in windows]
    return mx.mean(mx.stack(losses)).item()
