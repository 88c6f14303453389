"""Char-level causal LM fine-tune on a small notes corpus (LoRA-style trainer loop).

The corpus is mostly one-line notes, plus a few pasted long documents.
Batches are padded to the longest example; the loss is masked by length.
"""
import random
import resource
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

SUBJ = ["the cat", "my neighbour", "a red fox", "the old clock", "our teacher", "the river"]
VERB = ["sleeps", "watches the hill", "runs at dawn", "ticks loudly", "reads a book", "flows north"]
TAIL = ["today.", "every night.", "in the rain.", "after lunch.", "near the mill.", "again."]


def note():
    return f"{random.choice(SUBJ)} {random.choice(VERB)} {random.choice(TAIL)}"


train_set = [note() for _ in range(396)]
# four pasted long documents (meeting transcripts)
for _ in range(4):
    train_set.append(" ".join(note() for _ in range(45)))
random.shuffle(train_set)
valid_set = [note() for _ in range(64)]

VOCAB = sorted(set("".join(train_set + valid_set)))
stoi = {c: i + 1 for i, c in enumerate(VOCAB)}  # 0 = pad


class Tok:
    def encode(self, s):
        return [stoi[c] for c in s]


tokenizer = Tok()


def iterate_batches(dataset, tokenizer, batch_size, max_seq_length, train=False):
    while True:
        indices = np.arange(len(dataset))
        if train:
            indices = np.random.permutation(indices)
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            # Encode batch
            batch = [tokenizer.encode(dataset[indices[i + j]]) for j in range(batch_size)]
            lengths = [len(x) for x in batch]
            if max(lengths) > max_seq_length:
                print(
                    f"[WARNING] Some sequences are longer than {max_seq_length} tokens. "
                    "Consider pre-splitting your data to save memory."
                )
            # Pad to the max length
            batch_arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                batch_arr[j, : lengths[j]] = batch[j]
            batch = mx.array(batch_arr)
            yield batch[:, :-1], batch[:, 1:], mx.array(lengths)
        if not train:
            break


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.n1 = nn.RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.n2 = nn.RMSNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)
        self.rope = nn.RoPE(d // heads)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        scores = (q * (q.shape[-1] ** -0.5)) @ k.transpose(0, 1, 3, 2) + mask
        att = mx.softmax(scores, axis=-1) @ v
        x = x + self.o(att.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.ff2(nn.gelu(self.ff1(self.n2(x))))


class TinyLM(nn.Module):
    def __init__(self, vocab, d=64, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.emb(x)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def loss(model, inputs, targets, lengths):
    logits = model(inputs)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks


def evaluate(model, dataset, batch_size, max_seq_length):
    tot, n = 0.0, 0
    for batch in iterate_batches(dataset, tokenizer, batch_size, max_seq_length):
        l, t = loss(model, *batch)
        tot += (l * t).item()
        n += t.item()
    return tot / n


def rss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


model = TinyLM(len(VOCAB) + 1)
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)
loss_value_and_grad = nn.value_and_grad(model, loss)

ITERS, BATCH, MAX_SEQ, REPORT = 100, 4, 256, 10
print(f"train {len(train_set)} examples, longest {max(map(len, train_set))} chars, max_seq_length {MAX_SEQ}")
print(f"Iter 0: Val loss {evaluate(model, valid_set, BATCH, MAX_SEQ):.3f}")
losses, n_tokens = [], 0
start = time.perf_counter()
for it, batch in zip(range(ITERS), iterate_batches(train_set, tokenizer, BATCH, MAX_SEQ, train=True)):
    (lvalue, toks), grad = loss_value_and_grad(model, *batch)
    optimizer.update(model, grad)
    mx.eval(model.parameters(), optimizer.state, lvalue)
    losses.append(lvalue.item())
    n_tokens += toks.item()
    if (it + 1) % REPORT == 0:
        stop = time.perf_counter()
        print(
            f"Iter {it + 1}: Train loss {np.mean(losses):.3f}, "
            f"It/sec {REPORT / (stop - start):.2f}, Tokens/sec {n_tokens / (stop - start):.0f}, "
            f"Peak mem {mx.get_peak_memory() / 1e9:.3f} GB, max RSS {rss_mb():.0f} MB"
        )
        losses, n_tokens = [], 0
        start = time.perf_counter()
print(f"Final: Val loss {evaluate(model, valid_set, BATCH, MAX_SEQ):.3f}")
