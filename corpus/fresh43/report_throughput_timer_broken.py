"""Character-level next-token model (context window MLP) trained on text from a
tiny phrase grammar.  Mimics a LoRA-style trainer loop: validation every
`steps_per_eval` iterations, a train report every `steps_per_report` iterations
with loss, learning rate, It/sec and Tokens/sec.
"""
import random
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)

SUBJ = ["the cat", "a dog", "my friend", "the old man", "every bird", "our teacher"]
VERB = ["sees", "likes", "chases", "finds", "paints", "remembers"]
OBJ = ["the red ball", "a small house", "the river", "green apples", "the moon", "a long song"]
ADV = ["today", "again", "slowly", "at night", "in the rain", "with joy"]


def sentence():
    return f"{random.choice(SUBJ)} {random.choice(VERB)} {random.choice(OBJ)} {random.choice(ADV)}. "


train_text = "".join(sentence() for _ in range(3000))
val_text = "".join(sentence() for _ in range(300))
vocab = sorted(set(train_text + val_text))
stoi = {c: i for i, c in enumerate(vocab)}
CTX = 8


def encode(t):
    return mx.array([stoi[c] for c in t], dtype=mx.int32)


train_ids, val_ids = encode(train_text), encode(val_text)


def iterate_batches(ids, batch_size, train=True):
    n = ids.shape[0] - CTX - 1
    while True:
        starts = mx.random.randint(0, n, (batch_size,))
        idx = starts[:, None] + mx.arange(CTX + 1)[None, :]
        chunk = ids[idx]
        yield chunk[:, :CTX], chunk[:, CTX]
        if not train:
            return


class WindowLM(nn.Module):
    def __init__(self, vocab_size, dim=32, hidden=256):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.net = nn.Sequential(
            nn.Linear(CTX * dim, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, vocab_size),
        )

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.net(h)


def loss(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), mx.array(y.size)


def evaluate(model, num_batches, batch_size):
    tot, n = 0.0, 0
    for _ in range(num_batches):
        x, y = next(iterate_batches(val_ids, batch_size, train=False))
        l, t = loss(model, x, y)
        tot += l.item() * t.item()
        n += t.item()
    return tot / n


@dataclass
class TrainingArgs:
    batch_size: int = 64
    iters: int = 600
    val_batches: int = 60
    steps_per_report: int = 20
    steps_per_eval: int = 200


def train(model, optimizer, args):
    loss_value_and_grad = nn.value_and_grad(model, loss)
    state = [model.state, optimizer.state]

    def step(batch):
        (lvalue, toks), grad = loss_value_and_grad(model, *batch)
        optimizer.update(model, grad)
        return lvalue, toks

    losses = 0
    n_tokens = 0
    steps = 0
    trained_tokens = 0
    run_start = time.perf_counter()
    start = time.perf_counter()
    for it, batch in zip(range(1, args.iters + 1), iterate_batches(train_ids, args.batch_size)):
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            stop = time.perf_counter()
            val_loss = evaluate(model, args.val_batches, args.batch_size)
            val_time = time.perf_counter() - stop
            print(f"Iter {it}: Val loss {val_loss:.3f}, Val took {val_time:.3f}s", flush=True)
            start = time.perf_counter()

        lvalue, toks = step(batch)
        losses += lvalue
        n_tokens += toks
        steps += 1
        mx.eval(state, losses, n_tokens)

        if it % args.steps_per_report == 0 or it == args.iters:
            stop = time.perf_counter()
            train_loss = losses.item() / steps
            n_tok = n_tokens.item()
            lr = optimizer.learning_rate.item()
            it_sec = args.steps_per_report / (stop - start)
            tokens_sec = float(n_tok) / (stop - start)
            trained_tokens += n_tok
            print(
                f"Iter {it}: Train loss {train_loss:.3f}, Learning Rate {lr:.3e}, "
                f"It/sec {it_sec:.3f}, Tokens/sec {tokens_sec:.3f}, "
                f"Trained Tokens {trained_tokens}",
                flush=True,
            )
            losses = 0
            n_tokens = 0
            steps = 0
    print(f"Done: {args.iters} iterations in {time.perf_counter() - run_start:.2f}s wall")


if __name__ == "__main__":
    model = WindowLM(len(vocab))
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    train(model, optimizer, TrainingArgs())
