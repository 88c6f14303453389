"""Tiny chat-style SFT on synthetic dialogues (char-level bigram-ish LM).

Rows look like {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}.
The batcher sorts by length and pads; loss is on the answer tokens only.
"""
import logging
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("sft")

random.seed(0)
mx.random.seed(0)

VOCAB = [chr(c) for c in range(97, 123)] + [" ", "?", ".", "|"]
STOI = {c: i + 1 for i, c in enumerate(VOCAB)}  # 0 = pad
V = len(VOCAB) + 1


def encode(s):
    return [STOI[c] for c in s if c in STOI]


def make_rows(n):
    names = ["ana", "bob", "cyd", "dee", "eli", "fay", "gus", "hal"]
    colors = ["red", "blue", "green", "pink", "gold", "gray"]
    rows = []
    for _ in range(n):
        who, col = random.choice(names), random.choice(colors)
        rows.append({"messages": [
            {"role": "user", "content": f"what does {who} like?"},
            {"role": "assistant", "content": f"{who} likes {col}."},
        ]})
    return rows


class ChatRows:
    """Raw chat rows, as loaded from jsonl."""

    def __init__(self, rows):
        self._rows = rows

    def process(self, row):
        user = row["messages"][0]["content"]
        answer = row["messages"][1]["content"]
        prompt = encode(user + "|")
        return prompt + encode(answer), len(prompt)

    def __getitem__(self, idx):
        return self._rows[idx]

    def __len__(self):
        return len(self._rows)


class TokenizedRows:
    """Applies ChatRows.process lazily and caches the (tokens, offset) pairs."""

    def __init__(self, data):
        self._data = data
        self._cache = [None] * len(data)

    def __getitem__(self, idx):
        if self._cache[idx] is None:
            self._cache[idx] = self._data.process(self._data[idx])
        return self._cache[idx]

    def __len__(self):
        return len(self._data)


def iterate_batches(dataset, batch_size, rng):
    idx = sorted(range(len(dataset)), key=lambda i: len(dataset[i][0]))
    batches = [idx[i:i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]
    while True:
        rng.shuffle(batches)
        for b in batches:
            seqs = [dataset[j][0] for j in b]
            offs = [dataset[j][1] for j in b]
            T = max(len(s) for s in seqs)
            arr = np.zeros((len(b), T), dtype=np.int32)
            for k, s in enumerate(seqs):
                arr[k, :len(s)] = s
            lengths = np.array([len(s) for s in seqs])
            yield mx.array(arr), mx.array(offs), mx.array(lengths)


class TinyLM(nn.Module):
    def __init__(self, dims=48):
        super().__init__()
        self.emb = nn.Embedding(V, dims)
        self.prev = nn.Embedding(V, dims)
        self.out = nn.Linear(dims, V)

    def __call__(self, x):
        # current token + previous token features
        prev = mx.pad(x[:, :-1], [(0, 0), (1, 0)])
        h = nn.gelu(self.emb(x) + self.prev(prev))
        return self.out(h)


def loss_fn(model, batch, offsets, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = (steps >= offsets[:, None]) & (steps < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


train_set = ChatRows(make_rows(400))
model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)

rng = random.Random(1)
ITERS = 300
running = 0.0
for it, (batch, offs, lens) in zip(range(1, ITERS + 1), iterate_batches(train_set, 16, rng)):
    (loss, ntoks), grads = loss_and_grad(model, batch, offs, lens)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running += loss.item()
    if it % 25 == 0:
        log.info("it %d | answer nll %.4f | lr %.1e", it, running / 25, opt.learning_rate.item())
        running = 0.0
log.info("done")
