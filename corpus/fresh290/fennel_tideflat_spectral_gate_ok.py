# Tiny causal LM built from spectral-fusion DeltaNet mixers,
# trained on a synthetic lagged-sum token stream.
from __future__ import annotations

import math
import time
from typing import Dict, Optional, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def _next_power_of_two(x: int) -> int:
    return 1 << (x - 1).bit_length()


def _power_law_min_phase_filter(freq, amp, decay, *, dtype):
    freq_f32 = freq.astype(mx.float32)
    decay_f32 = decay.astype(mx.float32)
    amp_f32 = amp.astype(mx.float32)
    mag = amp_f32 / mx.power(1.0 + freq_f32 ** 2, decay_f32 / 2.0)
    phase = -decay_f32 * mx.arctan(freq_f32)
    real_part = mag * mx.cos(phase)
    imag_part = mag * mx.sin(phase)
    filt = real_part + 1j * imag_part
    return filt.astype(dtype)


class _SpectralConv(nn.Module):
    def __init__(self, num_heads: int, head_dim: int, *, fft_block_size: int | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.fft_block_size = fft_block_size
        self.log_amp = mx.zeros((num_heads,))
        self.log_decay = mx.full((num_heads,), math.log(0.3))
        self.mix_logit = mx.zeros((num_heads,))

    def __call__(self, x: mx.array) -> mx.array:
        bsz, seq_len, num_heads, head_dim = x.shape
        out = self._spectral_conv_full(x)
        mix = mx.sigmoid(self.mix_logit).reshape(1, 1, num_heads, 1)
        return mix * out + (1.0 - mix) * x

    def _spectral_conv_full(self, x: mx.array) -> mx.array:
        x_f = x.transpose(0, 2, 3, 1)  # (B, H, D, L)
        L = x_f.shape[-1]
        n_fft = _next_power_of_two(2 * L)
        fft = mx.fft.rfft(x_f.astype(mx.float32), n=n_fft, axis=-1)
        freq = mx.arange(fft.shape[-1], dtype=mx.float32)
        amp = nn.softplus(self.log_amp).reshape(1, -1, 1, 1)
        decay = nn.softplus(self.log_decay).reshape(1, -1, 1, 1) + 1e-4
        filt = _power_law_min_phase_filter(freq, amp, decay, dtype=fft.dtype)
        y = mx.fft.irfft(fft * filt, n=n_fft, axis=-1)
        y = y[..., :L]
        y = y.transpose(0, 3, 1, 2)
        return y.astype(x.dtype)


class DeltaNet(nn.Module):
    def __init__(
        self,
        *,
        hidden_size: int = 64,
        expand_v: float = 1.0,
        num_heads: int = 4,
        use_gate: bool = False,
        norm_eps: float = 1e-5,
        fft_block_size: int | None = None,
        **kwargs: Dict,
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.value_dim = int(hidden_size * expand_v)
        self.head_v_dim = self.value_dim // num_heads

        self.v_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
        self.spectral_conv = _SpectralConv(num_heads, self.head_v_dim, fft_block_size=fft_block_size)

        self.use_gate = use_gate
        if use_gate:
            self.g_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
            self.o_norm = nn.RMSNorm(self.head_v_dim, eps=norm_eps)
        else:
            self.o_norm = nn.RMSNorm(self.head_v_dim, eps=norm_eps)
        self.o_proj = nn.Linear(self.value_dim, hidden_size, bias=False)

    def __call__(self, hidden_states: mx.array, past_key_values=None, **kwargs) -> Tuple[mx.array, None, Optional[object]]:
        v = self.v_proj(hidden_states)
        v = v.reshape(*v.shape[:-1], self.num_heads, self.head_v_dim)
        v_spec = self.spectral_conv(v)

        if self.use_gate:
            gate = self.g_proj(hidden_states).reshape(*v_spec.shape)
            out = self.o_norm(v_spec) * mx.sigmoid(gate)
        else:
            out = self.o_norm(v_spec)
        out = out.reshape(*out.shape[:-2], self.value_dim)
        out = self.o_proj(out)
        return out, None, past_key_values


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim)
        self.mixer = DeltaNet(hidden_size=dim, num_heads=heads, use_gate=True)
        self.norm2 = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x):
        h, _, _ = self.mixer(self.norm1(x))
        x = x + h
        return x + self.mlp(self.norm2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab: int, dim: int, heads: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = [Block(dim, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, tokens):
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


VOCAB, DIM, HEADS, LAYERS = 16, 32, 4, 2
SEQ, BATCH, STEPS = 24, 16, 160
rng = np.random.default_rng(0)


def make_batch(n):
    seq = np.zeros((n, SEQ + 1), dtype=np.int32)
    seq[:, :2] = rng.integers(0, VOCAB, size=(n, 2))
    for t in range(2, SEQ + 1):
        seq[:, t] = (seq[:, t - 1] + seq[:, t - 2]) % VOCAB
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits[:, 2:], y[:, 2:], reduction="mean")


def accuracy(model, x, y):
    pred = mx.argmax(model(x)[:, 2:], axis=-1)
    return mx.mean(pred == y[:, 2:]).item()


mx.random.seed(0)
model = TinyLM(VOCAB, DIM, HEADS, LAYERS)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
print(f"params: {n_params}")
opt = optim.Adam(learning_rate=5e-3)
step_fn = nn.value_and_grad(model, loss_fn)
val_x, val_y = make_batch(128)

t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_batch(BATCH)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 20 == 0 or step == 1:
        val_loss = loss_fn(model, val_x, val_y).item()
        print(f"step {step:4d} | train loss {loss.item():.4f} | val loss {val_loss:.4f} | val acc {accuracy(model, val_x, val_y):.3f}")

print(f"final val acc {accuracy(model, val_x, val_y):.3f} (chance {1 / VOCAB:.3f}) | {time.time() - t0:.1f}s")
