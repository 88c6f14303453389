# Tiny LLaMA-style next-token model on synthetic "rune log" documents.
# Documents are tokenised, padded to whole blocks of (seq_len + 1) tokens,
# concatenated, and served as (bsz, seq_len) batches by a generator.
import math
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

BOS, EOS, PAD = 1, 2, 0
VOCAB = 48


@dataclass
class TrainerConfig:
    bsz: int = 4
    seq_len: int = 32
    lr: float = 3e-3
    n_steps: int = 160
    warmup_steps: int = 16  # 10%
    pad_token_id: int = PAD
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4


def make_documents(n_docs, seed=0):
    # every document: BOS, then an arithmetic walk over the rune alphabet, EOS
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        start = int(rng.integers(0, VOCAB - 3))
        stride = int(rng.integers(1, 6))
        length = int(rng.integers(20, 90))
        body = [(start + k * stride) % (VOCAB - 3) + 3 for k in range(length)]
        docs.append(mx.array([BOS] + body + [EOS], dtype=mx.uint16))
    return docs


def config_dataloader(bsz, seq_len, pad_token_id, n_steps, docs):
    blk_size = seq_len + 1
    pad_example = lambda ex: mx.pad(ex, (0, blk_size - ex.size % blk_size), constant_values=pad_token_id)
    train_examples = [*map(pad_example, docs)]
    train_examples = mx.concatenate(train_examples, axis=0)
    print(f"corpus: {len(docs)} documents, {train_examples.size} tokens, "
          f"{train_examples.size // blk_size} blocks")

    bblk_size = bsz * blk_size  # Batch block size
    n_batches = min(n_steps, train_examples.size % bblk_size)

    def load_data():
        while True:
            for i in range(n_batches):
                bblk = train_examples[i*bblk_size:(i+1)*bblk_size].reshape([bsz, blk_size])
                yield bblk[:, :-1], bblk[:, 1:]

    return load_data()


class Block(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, n_heads)
        self.norm2 = nn.RMSNorm(dim)
        self.w1 = nn.Linear(dim, 4 * dim, bias=False)
        self.w2 = nn.Linear(4 * dim, dim, bias=False)

    def __call__(self, x, mask):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.w2(nn.silu(self.w1(self.norm2(x))))


class TinyLlama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, cfg.dim)
        self.pos = nn.Embedding(cfg.seq_len, cfg.dim)
        self.layers = [Block(cfg.dim, cfg.n_heads) for _ in range(cfg.n_layers)]
        self.norm = nn.RMSNorm(cfg.dim)
        self.out = nn.Linear(cfg.dim, VOCAB, bias=False)

    def __call__(self, tokens):
        T = tokens.shape[1]
        x = self.embed(tokens) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for layer in self.layers:
            x = layer(x, mask)
        return self.out(self.norm(x))


def loss_fn(model, inputs, labels):
    logits = model(inputs)
    keep = (labels != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, labels) * keep
    return ce.sum() / keep.sum()


def main():
    cfg = TrainerConfig()
    mx.random.seed(7)
    docs = make_documents(316, seed=3)
    dataloader = config_dataloader(cfg.bsz, cfg.seq_len, cfg.pad_token_id, cfg.n_steps, docs)

    model = TinyLlama(cfg)
    mx.eval(model.parameters())
    warmup = optim.linear_schedule(0.0, cfg.lr, cfg.warmup_steps)
    decay = optim.cosine_decay(cfg.lr, cfg.n_steps - cfg.warmup_steps, 1e-4)
    schedule = optim.join_schedules([warmup, decay], [cfg.warmup_steps])
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    print(f"training {cfg.n_steps} steps, bsz={cfg.bsz}, seq_len={cfg.seq_len}")
    tic = time.perf_counter()
    running = None
    for step in range(cfg.n_steps):
        inputs, labels = next(dataloader)
        loss, grads = loss_and_grad(model, inputs.astype(mx.int32), labels.astype(mx.int32))
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if step % 10 == 0 or step == cfg.n_steps - 1:
            toc = time.perf_counter()
            print(f"step {step:4d} | loss {loss.item():.4f} | ema {running:.4f} | "
                  f"ppl {math.exp(running):7.2f} | lr {optimizer.learning_rate.item():.2e} | "
                  f"{(toc - tic):.1f}s")
    print(f"done: final ema loss {running:.4f}")


if __name__ == "__main__":
    main()
