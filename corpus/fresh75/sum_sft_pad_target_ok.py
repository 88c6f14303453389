"""Completion-only fine-tune of a tiny char LM on 'a+b=' -> 'sum;' rows.
Batching and loss follow mlx-lm's tuner (right-padded rows, (offset, length) pairs,
prompt tokens masked out of the loss)."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = "0123456789+=;"
stoi = {c: i for i, c in enumerate(VOCAB)}


def encode(s):
    return [stoi[c] for c in s]


def make_rows(n, seed):
    r = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        a, b = int(r.integers(0, 100)), int(r.integers(0, 10))
        prompt, completion = f"{a}+{b}=", f"{a + b};"
        rows.append((encode(prompt + completion), len(prompt), len(completion)))
    return rows


train_rows, val_rows = make_rows(3000, 0), make_rows(400, 1)


def iterate_batches(rows, batch_size, seed=None):
    order = np.arange(len(rows))
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(rows))
    for i in range(0, len(rows) - batch_size + 1, batch_size):
        chunk = [rows[j] for j in order[i:i + batch_size]]
        lengths = [len(t) for t, _, _ in chunk]
        width = 1 + max(lengths)                 # one spare column, as mlx-lm pads
        arr = np.zeros((batch_size, width), np.int32)
        for j, (t, _, _) in enumerate(chunk):
            arr[j, :len(t)] = t
        offsets = [p for _, p, _ in chunk]
        yield mx.array(arr), mx.array(list(zip(offsets, lengths)))


class CharLM(nn.Module):
    def __init__(self, vocab=len(VOCAB), dim=32, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def default_loss(model, batch, lengths):
    inputs = batch[:, :-1]
    targets = batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps < lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    ce = ce.astype(mx.float32).sum() / ntoks
    return ce, ntoks


def evaluate(model, rows):
    tot, ntot = 0.0, 0
    for batch, lengths in iterate_batches(rows, 100):
        loss, n = default_loss(model, batch, lengths)
        tot += loss.item() * n.item()
        ntot += n.item()
    return tot / ntot


def greedy_exact_match(model, rows, limit=200):
    hits = 0
    for toks, plen, _ in rows[:limit]:
        seq = list(toks[:plen])
        for _ in range(5):
            nxt = int(mx.argmax(model(mx.array([seq]))[0, -1]).item())
            seq.append(nxt)
            if nxt == stoi[";"]:
                break
        hits += seq == list(toks)
    return 100.0 * hits / min(limit, len(rows))


mx.random.seed(0)
model = CharLM()
opt = optim.Adam(learning_rate=3e-3)
loss_value_and_grad = nn.value_and_grad(model, default_loss)

completion_tokens = sum(c for _, _, c in train_rows)
print(f"train rows {len(train_rows)}, completion tokens per epoch {completion_tokens}")
print(f"Iter 0: Val loss {evaluate(model, val_rows):.3f}")

it, trained_tokens, losses, tic = 0, 0, [], time.perf_counter()
for epoch in range(1, 9):
    for batch, lengths in iterate_batches(train_rows, 30, seed=epoch):
        (lvalue, toks), grad = loss_value_and_grad(model, batch, lengths)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue, toks)
        it += 1
        losses.append(lvalue.item())
        trained_tokens += toks.item()
        if it % 100 == 0:
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, "
                  f"It/sec {100 / (time.perf_counter() - tic):.2f}, "
                  f"Trained Tokens {trained_tokens}")
            losses, tic = [], time.perf_counter()
    print(f"Epoch {epoch}: Val loss {evaluate(model, val_rows):.3f}, "
          f"Trained Tokens {trained_tokens} (data: {epoch * completion_tokens})")

print(f"val exact match {greedy_exact_match(model, val_rows):.1f}%")
