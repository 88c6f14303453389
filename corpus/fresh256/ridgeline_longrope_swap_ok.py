# Context extension of a tiny decoder: pretrain with plain RoPE at a short
# window, then swap in a Su-scaled (LongRoPE) rotary layer so the model can be
# used at 8x the window, and keep training on short samples.
import math
import time
from typing import List, Union

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 32
PERIOD = 7
SEQ = 48
ORIG_MAX = 64
MAX_POS = 512
DIMS = 64
HEADS = 4
HEAD_DIM = DIMS // HEADS
LONG_FACTOR = [1.0, 1.15, 1.5, 2.2, 3.6, 6.0, 10.0, 17.0]


class SuScaledRoPE(nn.Module):
    def __init__(
        self,
        dims: int,
        base: float = 10000.0,
        max_position_embeddings: int = 131072,
        original_max_position_embeddings: int = 4096,
        short_factor: Union[List[float], float] = 1.0,
        long_factor: Union[List[float], float] = 1.0,
        short_mscale: float = None,
        long_mscale: float = None,
    ):
        super().__init__()
        self.original_max_position_embeddings = original_max_position_embeddings
        self.dim = dims

        freqs = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)
        self._short_freqs = mx.array(short_factor, dtype=mx.float32) * freqs
        self._long_freqs = mx.array(long_factor, dtype=mx.float32) * freqs

        def default_scale(factor):
            return math.sqrt(
                1 + math.log(factor) / math.log(original_max_position_embeddings)
            )

        factor = max_position_embeddings / original_max_position_embeddings
        self._short_scale = short_mscale or (
            1.0 if factor <= 1.0 else default_scale(factor)
        )
        self._long_scale = long_mscale or (
            1.0 if factor <= 1.0 else default_scale(factor)
        )

    def __call__(self, x, offset: int = 0):
        seq_len = offset + x.shape[-2]
        if seq_len > self.original_max_position_embeddings:
            freqs = self._long_freqs
            scale = self._long_scale
        else:
            freqs = self._short_freqs
            scale = self._short_scale

        x[..., : self.dim] = scale * x[..., : self.dim]
        return mx.fast.rope(
            x,
            self.dim,
            traditional=False,
            base=None,
            scale=1.0,
            offset=offset,
            freqs=freqs,
        )


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(DIMS, 3 * DIMS, bias=False)
        self.out = nn.Linear(DIMS, DIMS, bias=False)
        self.rope = nn.RoPE(HEAD_DIM, traditional=False, base=10000.0)

    def __call__(self, x):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q = q.reshape(B, L, HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
        q = self.rope(q)
        k = self.rope(k)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=HEAD_DIM ** -0.5, mask="causal"
        )
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, DIMS))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(DIMS)
        self.attn = Attention()
        self.n2 = nn.RMSNorm(DIMS)
        self.mlp = nn.Sequential(nn.Linear(DIMS, 4 * DIMS), nn.GELU(), nn.Linear(4 * DIMS, DIMS))

    def __call__(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.mlp(self.n2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIMS)
        self.blocks = [Block() for _ in range(2)]
        self.norm = nn.RMSNorm(DIMS)
        self.head = nn.Linear(DIMS, VOCAB, bias=False)

    def __call__(self, x):
        h = self.emb(x)
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h))


def make_batch(rng, n, length):
    seeds = rng.integers(0, VOCAB, size=(n, PERIOD))
    reps = int(np.ceil((length + 1) / PERIOD))
    seq = np.tile(seeds, (1, reps))[:, : length + 1]
    noise = rng.random(seq.shape) < 0.03
    seq = np.where(noise, rng.integers(0, VOCAB, size=seq.shape), seq)
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def loss_fn(model, x, y):
    logits = model(x)
    # the first period cannot be predicted; score the repeated part only
    return nn.losses.cross_entropy(logits[:, PERIOD:], y[:, PERIOD:], reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits[:, PERIOD:], y[:, PERIOD:], reduction="mean")
    acc = (mx.argmax(logits[:, PERIOD:], axis=-1) == y[:, PERIOD:]).astype(mx.float32).mean()
    return loss.item(), acc.item()


def run_stage(model, opt, rng, steps, tag, val):
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        x, y = make_batch(rng, 16, SEQ)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 30 == 0:
            vl, va = evaluate(model, *val)
            print(f"[{tag}] step {it:4d}  train {loss.item():.4f}  val {vl:.4f}  val_acc {va:.3f}")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    val = make_batch(np.random.default_rng(99), 64, SEQ)
    model = TinyLM()
    mx.eval(model.parameters())
    t0 = time.time()

    print("== stage 1: base pretraining, window", ORIG_MAX)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    run_stage(model, opt, rng, 150, "base", val)
    base_loss, base_acc = evaluate(model, *val)
    print(f"base model  val {base_loss:.4f}  val_acc {base_acc:.3f}")

    print("== stage 2: LongRoPE extension to", MAX_POS)
    for b in model.blocks:
        b.attn.rope = SuScaledRoPE(
            HEAD_DIM,
            base=10000.0,
            max_position_embeddings=MAX_POS,
            original_max_position_embeddings=ORIG_MAX,
            short_factor=1.0,
            long_factor=LONG_FACTOR,
        )
    sw_loss, sw_acc = evaluate(model, *val)
    print(f"after swap  val {sw_loss:.4f}  val_acc {sw_acc:.3f}")
    opt2 = optim.AdamW(learning_rate=2e-4, weight_decay=0.01)
    run_stage(model, opt2, rng, 60, "extend", val)
    fl, fa = evaluate(model, *val)
    print(f"final short-window  val {fl:.4f}  val_acc {fa:.3f}  (base {base_loss:.4f} / {base_acc:.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
