"""Completion-only fine-tuning of a tiny char LM on "prompt -> answer" pairs.

Only the answer tokens (positions in [prompt_len, total_len)) are scored.
Examples are bucketed by prompt length so each batch has similar padding.
"""
import random
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = "abcdefghijklmnopqrstuvwxyz0123456789=+ .#"
STOI = {c: i + 1 for i, c in enumerate(VOCAB)}  # 0 is padding


@dataclass
class TrainCfg:
    max_len: int = 24
    batch_size: int = 8
    epochs: int = 6
    lr: float = 2e-3
    dim: int = 48


def make_examples(n, rng):
    out = []
    for _ in range(n):
        a, b = rng.randint(0, 49), rng.randint(0, 49)
        filler = "#" * rng.choice([0, 0, 0, 2, 4, 30])  # some prompts carry long headers
        prompt = f"{filler}{a}+{b}="
        out.append((prompt, str(a + b) + "."))
    return out


def encode(prompt, answer, max_len):
    ids = [STOI[c] for c in prompt + answer][: max_len + 1]
    offset = min(len(prompt), max_len)
    length = len(ids) - 1
    ids = ids + [0] * (max_len + 1 - len(ids))
    return ids, offset, length


def bucketed_batches(examples, cfg, rng):
    examples = sorted(examples, key=lambda e: len(e[0]))
    chunks = [examples[i:i + cfg.batch_size] for i in range(0, len(examples), cfg.batch_size)]
    rng.shuffle(chunks)
    for chunk in chunks:
        enc = [encode(p, a, cfg.max_len) for p, a in chunk]
        toks = mx.array([e[0] for e in enc])
        yield toks[:, :-1], toks[:, 1:], mx.array([e[1] for e in enc]), mx.array([e[2] for e in enc])


class CharLM(nn.Module):
    def __init__(self, vocab, dim, max_len):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.block = nn.TransformerEncoderLayer(dim, num_heads=4, mlp_dims=2 * dim)
        self.lm_head = nn.Linear(dim, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.lm_head(self.block(h, mask))


def completion_loss(lm, inputs, targets, offsets, lengths):
    logits = lm(inputs)
    pos = mx.arange(inputs.shape[1])[None, :]
    window = (pos >= offsets[:, None]) & (pos < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, targets) * window
    ntoks = window.sum()
    return ce.sum() / ntoks, ntoks


def main(cfg=TrainCfg()):
    rng = random.Random(0)
    mx.random.seed(0)
    data = make_examples(400, rng)
    lm = CharLM(len(VOCAB) + 1, cfg.dim, cfg.max_len)
    opt = optim.AdamW(learning_rate=cfg.lr)
    loss_and_grad = nn.value_and_grad(lm, completion_loss)
    for epoch in range(cfg.epochs):
        seen, total = 0, 0.0
        for inputs, targets, offsets, lengths in bucketed_batches(data, cfg, rng):
            (loss, ntoks), grads = loss_and_grad(lm, inputs, targets, offsets, lengths)
            opt.update(lm, grads)
            mx.eval(lm.parameters(), opt.state, loss, ntoks)
            total += loss.item() * ntoks.item()
            seen += ntoks.item()
        print(f"epoch {epoch}: answer-token loss {total / max(seen, 1):.4f} over {seen} tokens")

    held_out = [encode(p, a, cfg.max_len) for p, a in make_examples(64, random.Random(1)) if len(p) < 20]
    toks = mx.array([e[0] for e in held_out])
    offs, lens = mx.array([e[1] for e in held_out]), mx.array([e[2] for e in held_out])
    val, _ = completion_loss(lm, toks[:, :-1], toks[:, 1:], offs, lens)
    print(f"held-out answer loss {val.item():.4f}")


if __name__ == "__main__":
    main()
