# Tiny decoder LM trained on a copy task, with per-block gradient checkpointing
# turned on to keep activation memory down (the flag a user flips for long runs).
import math
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class HybridTinyConfig:
    vocab_size: int = 16
    seq_len: int = 16
    dims: int = 32
    num_heads: int = 4
    num_layers: int = 2
    mlp_ratio: int = 4
    grad_checkpoint: bool = True


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.dims, 3 * cfg.dims, bias=False)
        self.out = nn.Linear(cfg.dims, cfg.dims, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        hd = D // self.num_heads
        q = q.reshape(B, L, self.num_heads, hd).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, self.num_heads, hd).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, self.num_heads, hd).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(hd), mask=mask)
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.dims)
        self.attn = Attention(cfg)
        self.norm2 = nn.RMSNorm(cfg.dims)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dims, cfg.mlp_ratio * cfg.dims),
            nn.GELU(),
            nn.Linear(cfg.mlp_ratio * cfg.dims, cfg.dims),
        )

    def __call__(self, x, mask):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class HybridTinyLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dims)
        self.pos = nn.Embedding(cfg.seq_len, cfg.dims)
        self.layers = [Block(cfg) for _ in range(cfg.num_layers)]
        self.norm = nn.RMSNorm(cfg.dims)
        self.lm_head = nn.Linear(cfg.dims, cfg.vocab_size, bias=False)

    def __call__(self, tokens):
        L = tokens.shape[1]
        hidden_states = self.embed(tokens) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(hidden_states.dtype)
        if self.config.grad_checkpoint:
            for layer in self.layers:
                hidden_states = mx.checkpoint(layer)(hidden_states, mask)
        else:
            for layer in self.layers:
                hidden_states = layer(hidden_states, mask)
        return self.lm_head(self.norm(hidden_states))


def make_batch(batch, half, vocab):
    first = mx.random.randint(1, vocab, (batch, half))
    return mx.concatenate([first, first], axis=1)


def loss_fn(model, seq, half):
    logits = model(seq[:, :-1])
    targets = seq[:, 1:]
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    # only the copied half is predictable
    return ce[:, half - 1:].mean()


def main():
    mx.random.seed(7)
    cfg = HybridTinyConfig()
    half = cfg.seq_len // 2
    model = HybridTinyLM(cfg)
    mx.eval(model.parameters())
    n_params = sum(p.size for _, p in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.trainable_parameters()))
    print(f"params: {n_params}  layers: {cfg.num_layers}  grad_checkpoint: {cfg.grad_checkpoint}")

    optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    val = make_batch(128, half, cfg.vocab_size)
    steps, batch = 150, 32
    t0 = time.time()
    for step in range(1, steps + 1):
        seq = make_batch(batch, half, cfg.vocab_size)
        loss, grads = loss_and_grad(model, seq, half)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if step % 25 == 0:
            val_loss = loss_fn(model, val, half)
            pred = mx.argmax(model(val[:, :-1])[:, half - 1:], axis=-1)
            acc = (pred == val[:, half:]).astype(mx.float32).mean()
            print(
                f"step {step:4d} | train loss {loss.item():.4f} | val loss {val_loss.item():.4f}"
                f" | copy acc {acc.item():.3f} | peak mem {mx.get_peak_memory() / 1e6:.1f} MB"
                f" | {step * batch / (time.time() - t0):.0f} seq/s"
            )
    print(f"final val loss {loss_fn(model, val, half).item():.4f} (uniform baseline {math.log(cfg.vocab_size - 1):.4f})")


if __name__ == "__main__":
    main()
