"""Tiny code language model on tokenised snippets (MLX, CPU)."""
import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class ModelConfig:
    vocab_size: int = 48
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    max_seq_len: int = 32
    dropout: float = 0.0
    attention_dropout: float = 0.0
    residual_dropout: float = 0.0

    @property
    def d_head(self):
        return self.d_model // self.n_heads


class MLXMultiHeadAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.d_model = config.d_model
        self.n_heads = config.n_heads
        self.d_head = config.d_head
        self.qkv_proj = nn.Linear(self.d_model, 3 * self.d_model, bias=True)
        self.out_proj = nn.Linear(self.d_model, self.d_model)
        self.attn_dropout = nn.Dropout(config.attention_dropout)
        self.resid_dropout = nn.Dropout(config.residual_dropout)
        self.scale = 1.0 / math.sqrt(self.d_head)

    def __call__(self, x, mask: Optional[mx.array] = None):
        batch_size, seq_len, _ = x.shape
        qkv = self.qkv_proj(x)
        qkv = qkv.reshape(batch_size, seq_len, 3, self.n_heads, self.d_head)
        qkv = qkv.transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * self.scale
        if mask is None:
            mask = mx.triu(mx.full((seq_len, seq_len), -1e9), k=1)
        scores = scores + mask
        attn = self.attn_dropout(mx.softmax(scores, axis=-1))
        out = (attn @ v).transpose(0, 2, 1, 3).reshape(batch_size, seq_len, self.d_model)
        return self.resid_dropout(self.out_proj(out))


class MLXFeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def __call__(self, x):
        x = self.dropout(nn.gelu(self.fc1(x)))
        return self.dropout(self.fc2(x))


class MLXTransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.attention = MLXMultiHeadAttention(config)
        self.ffn = MLXFeedForward(config)

    def __call__(self, x, mask=None):
        x = x + self.attention(self.ln1(x), mask=mask)
        return x + self.ffn(self.ln2(x))


class MLXTransformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_seq_len, config.d_model)
        self.emb_dropout = nn.Dropout(config.dropout)
        self.blocks = [MLXTransformerBlock(config) for _ in range(config.n_layers)]
        self.ln_f = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight
        print("Initialized MLX Transformer:")
        print(f"  Parameters: {self.num_parameters() / 1e6:.3f}M")
        print(f"  Layers: {config.n_layers}")
        print(f"  Attention heads: {config.n_heads}")

    def __call__(self, input_ids, mask=None):
        _, seq_len = input_ids.shape
        x = self.token_embedding(input_ids) + self.position_embedding(mx.arange(seq_len))
        x = self.emb_dropout(x)
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.lm_head(self.ln_f(x))

    def num_parameters(self) -> int:
        """Count total number of parameters."""
        total = 0

        # Token and position embeddings
        total += self.token_embedding.weight.size
        total += self.position_embedding.weight.size

        # Transformer blocks
        for block in self.blocks:
            # Attention
            total += block.attention.qkv_proj.weight.size
            total += block.attention.qkv_proj.bias.size
            total += block.attention.out_proj.weight.size
            total += block.attention.out_proj.bias.size

            # FFN
            total += block.ffn.fc1.weight.size
            total += block.ffn.fc1.bias.size
            total += block.ffn.fc2.weight.size
            total += block.ffn.fc2.bias.size

            # Layer norms
            total += block.ln1.weight.size
            total += block.ln1.bias.size
            total += block.ln2.weight.size
            total += block.ln2.bias.size

        # Final layer norm
        total += self.ln_f.weight.size
        total += self.ln_f.bias.size

        # LM head shares weights with token embedding, so don't double count

        return total


def create_model(config: ModelConfig) -> MLXTransformer:
    model = MLXTransformer(config)

    # MLX modules are automatically initialized with reasonable defaults
    # No need for custom initialization in most cases

    return model


# ---- synthetic tokenised code: "def fN ( a , b ) : return a OP b NEWLINE ..." ----
KEYWORDS = ["<pad>", "def", "(", ")", ",", ":", "return", "NL", "a", "b", "c",
            "+", "-", "*", "if", "else", "=", "x", "y", "print"]
FN_BASE = len(KEYWORDS)          # function-name tokens f0..f27
VOCAB = FN_BASE + 28


def make_snippet(rng):
    fn = FN_BASE + int(rng.integers(0, 28))
    op = ["+", "-", "*"][fn % 3]
    a, b = ("a", "b") if fn % 2 == 0 else ("x", "y")
    toks = ["def", fn, "(", a, ",", b, ")", ":", "return", a, op, b, "NL",
            "print", "(", fn, "(", a, ",", b, ")", ")", "NL"]
    return [t if isinstance(t, int) else KEYWORDS.index(t) for t in toks]


def build_corpus(n, seq_len, seed):
    rng = np.random.default_rng(seed)
    stream = []
    while len(stream) < n * (seq_len + 1):
        stream.extend(make_snippet(rng))
    arr = np.array(stream[: n * (seq_len + 1)], dtype=np.int32).reshape(n, seq_len + 1)
    return mx.array(arr)


def main():
    mx.random.seed(0)
    cfg = ModelConfig(vocab_size=VOCAB)
    model = create_model(cfg)
    train = build_corpus(512, 31, seed=1)
    val = build_corpus(64, 31, seed=2)

    def loss_fn(m, batch):
        logits = m(batch[:, :-1])
        return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")

    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    bs, steps = 32, 120
    print(f"train seqs {train.shape[0]}, val seqs {val.shape[0]}, vocab {VOCAB}")
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.array(np.random.default_rng(step).integers(0, train.shape[0], bs))
        loss, grads = step_fn(model, train[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 10 == 0:
            vl = loss_fn(model, val).item()
            print(f"step {step:4d} | train loss {loss.item():.4f} | val loss {vl:.4f} "
                  f"| val ppl {math.exp(vl):.2f} | {time.time() - t0:.1f}s")
    logits = model(val[:, :-1])
    acc = (mx.argmax(logits, axis=-1) == val[:, 1:]).astype(mx.float32).mean().item()
    print(f"final next-token accuracy on val: {acc:.3f}")


if __name__ == "__main__":
    main()
