"""SFT of a tiny caption-style language model with warmup + cosine learning rate.

Trains on completions only (prompt tokens masked out of the loss).
"""
import math
import random
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Colors:
    HEADER = "\033[95m"
    OKBLUE = "\033[94m"
    OKCYAN = "\033[96m"
    OKGREEN = "\033[92m"
    ENDC = "\033[0m"


@dataclass
class TrainingArgs:
    batch_size: int = 8
    iters: int = 240
    steps_per_report: int = 20
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-5
    warmup_steps: int = 240
    max_seq_length: int = 32


COLOURS = ["red", "green", "blue", "white", "black", "yellow"]
THINGS = ["cat", "dog", "car", "cup", "bird", "tree"]


def make_example(rng):
    c, t = rng.choice(COLOURS), rng.choice(THINGS)
    prompt = f"<img:{COLOURS.index(c)}{THINGS.index(t)}> describe:"
    answer = f" a {c} {t}.\n"
    return prompt, answer


chars = sorted(set("".join(make_example(random.Random(i))[0] + make_example(random.Random(i))[1] for i in range(500)) + "0123456789<>:"))
stoi = {ch: i + 1 for i, ch in enumerate(chars)}  # 0 = pad
VOCAB = len(stoi) + 1


def encode_batch(rng, n, max_len):
    toks = mx.zeros((n, max_len), dtype=mx.int32)
    comp_mask = mx.zeros((n, max_len))
    rows, masks = [], []
    for _ in range(n):
        p, a = make_example(rng)
        ids = [stoi[ch] for ch in p + a][:max_len]
        m = [0.0] * len(p) + [1.0] * len(a)
        rows.append(ids + [0] * (max_len - len(ids)))
        masks.append((m + [0.0] * max_len)[:max_len])
    return mx.array(rows, dtype=mx.int32), mx.array(masks)


class TinyCaptioner(nn.Module):
    def __init__(self, vocab, dim=64, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.blocks = [nn.TransformerEncoderLayer(dim, 4, 128) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.emb(x)
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.norm(h))


def loss_fn(model, tokens, comp_mask):
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:]
    m = comp_mask[:, 1:]
    ce = nn.losses.cross_entropy(logits, targets) * m
    ntoks = m.sum()
    return ce.sum() / ntoks, ntoks


def get_learning_rate(iters, step, warmup_steps, learning_rate, min_learning_rate):
    if warmup_steps >= iters:
        return learning_rate * (step / max(iters, 1))

    if step < warmup_steps:
        return learning_rate * (step / warmup_steps)

    progress = (step - warmup_steps) / (iters - warmup_steps)
    cosine_decay = 0.5 * (1 + math.cos(math.pi * progress))
    return min_learning_rate + (learning_rate - min_learning_rate) * cosine_decay


def train(args):
    mx.random.seed(0)
    rng = random.Random(0)
    model = TinyCaptioner(VOCAB)
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=args.learning_rate, weight_decay=0.01)
    loss_value_and_grad = nn.value_and_grad(model, loss_fn)

    print(f"{Colors.HEADER}Starting training..., iterations: {args.iters}{Colors.ENDC}", flush=True)
    losses, n_tokens, steps = 0.0, 0.0, 0
    tic = time.perf_counter()
    for it in range(1, args.iters + 1):
        tokens, comp_mask = encode_batch(rng, args.batch_size, args.max_seq_length)
        optimizer.learning_rate = get_learning_rate(
            iters=args.iters,
            step=it,
            warmup_steps=args.warmup_steps,
            learning_rate=args.learning_rate,
            min_learning_rate=args.min_learning_rate,
        )
        (lvalue, toks), grad = loss_value_and_grad(model, tokens, comp_mask)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, lvalue, toks)
        losses += lvalue.item()
        n_tokens += toks.item()
        steps += 1
        if it % args.steps_per_report == 0 or it == args.iters:
            elapsed = time.perf_counter() - tic
            lr = optimizer.learning_rate.item()
            print(
                f"{Colors.OKBLUE}Iter {it}: Train loss {losses / steps:.3f}, "
                f"Learning Rate {lr:.3e}, It/sec {steps / elapsed:.3f}, "
                f"Tokens/sec {n_tokens / elapsed:.1f}{Colors.ENDC}",
                flush=True,
            )
            losses, n_tokens, steps = 0.0, 0.0, 0
            tic = time.perf_counter()
    print(f"{Colors.OKGREEN}Training complete.{Colors.ENDC}", flush=True)


if __name__ == "__main__":
    train(TrainingArgs())
