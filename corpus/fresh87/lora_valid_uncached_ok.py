"""Tiny char-level LM trainer in the mlx-lm-lora style: jsonl-like records
{"text": ...} -> TextDataset (raw records, process() tokenizes) -> CacheDataset
(tokenizes lazily and caches) -> iterate_batches -> train with periodic validation."""
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
np.random.seed(0)
mx.random.seed(0)

# ---------------------------------------------------------------- data
SUBJ = ["the ferry", "a heron", "the old miller", "my sister", "the night train", "a small dog"]
VERB = ["crosses", "watches", "follows", "misses", "greets", "paints"]
OBJ = ["the river", "the harbour lights", "a red kite", "the morning fog", "the last bus", "an empty field"]
TAIL = ["at dawn.", "every sunday.", "in the rain.", "without a sound.", "again and again.", "before supper."]
def sentence():
    return " ".join([random.choice(SUBJ), random.choice(VERB), random.choice(OBJ), random.choice(TAIL)])
train_records = [{"text": sentence()} for _ in range(1200)]
valid_records = [{"text": sentence()} for _ in range(150)]

class CharTokenizer:
    def __init__(self, texts):
        chars = sorted(set("".join(texts)))
        self.vocab = {c: i + 2 for i, c in enumerate(chars)}  # 0 pad, 1 eos
        self.size = len(self.vocab) + 2
    def encode(self, s):
        return [self.vocab[c] for c in s] + [1]

tok = CharTokenizer([r["text"] for r in train_records + valid_records])

class TextDataset:
    """Raw records; process() turns one record into token ids."""
    def __init__(self, records, tokenizer, key="text"):
        self._data, self.tok, self.key = records, tokenizer, key
    def process(self, d):
        return self.tok.encode(d[self.key])
    def __getitem__(self, idx):
        return self._data[idx]
    def __len__(self):
        return len(self._data)

class CacheDataset:
    def __init__(self, data):
        self._data = data
        self._proc = [None] * len(data)
    def itemlen(self, idx):
        return len(self._data[idx])
    def __getitem__(self, idx):
        if self._proc[idx] is None:
            self._proc[idx] = self._data.process(self._data[idx])
        return self._proc[idx]
    def __len__(self):
        return len(self._data)

def iterate_batches(dataset, batch_size, max_seq_length, train=False):
    idx = list(range(len(dataset)))
    while True:
        if train:
            random.shuffle(idx)
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            batch = [dataset[j] for j in idx[i:i + batch_size]]
            lengths = [min(len(x), max_seq_length) for x in batch]
            arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                arr[j, :lengths[j]] = batch[j][:lengths[j]]
            yield mx.array(arr), mx.array(lengths)
        if not train:
            break

# ---------------------------------------------------------------- model
class CharLM(nn.Module):
    def __init__(self, vocab, dim=48, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.out = nn.Linear(hidden, vocab)
    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))

def default_loss(model, batch, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = (steps[None, :] < lengths[:, None]).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks

def evaluate(model, dataset, batch_size, max_seq_length):
    all_loss, ntokens = 0.0, 0.0
    for batch, lengths in iterate_batches(dataset, batch_size, max_seq_length):
        loss, toks = default_loss(model, batch, lengths)
        all_loss += float(loss * toks)
        ntokens += float(toks)
    return all_loss / ntokens

def train_model(model, train_set, valid_set, iters=300, batch_size=16, max_seq_length=64,
                steps_per_report=25, steps_per_eval=100, lr=3e-3):
    opt = optim.Adam(learning_rate=lr)
    loss_value_and_grad = nn.value_and_grad(model, default_loss)
    losses, n_tokens, tic = 0.0, 0.0, time.perf_counter()
    for it, (batch, lengths) in zip(range(1, iters + 1),
                                    iterate_batches(train_set, batch_size, max_seq_length, train=True)):
        (lvalue, toks), grad = loss_value_and_grad(model, batch, lengths)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue)
        losses += float(lvalue); n_tokens += float(toks)
        if it % steps_per_report == 0:
            print(f"Iter {it}: Train loss {losses / steps_per_report:.3f}, "
                  f"Tokens {int(n_tokens)}, It/sec {steps_per_report / (time.perf_counter() - tic):.2f}")
            losses, tic = 0.0, time.perf_counter()
        if it % steps_per_eval == 0 or it == iters:
            val_loss = evaluate(model, valid_set, batch_size, max_seq_length)
            print(f"Iter {it}: Val loss {val_loss:.3f}, Val ppl {math.exp(val_loss):.2f}")
    return model

if __name__ == "__main__":
    train_set = TextDataset(train_records, tok)
    valid_set = TextDataset(valid_records, tok)
    model = CharLM(tok.size)
    print(f"Loading datasets: {len(train_set)} train, {len(valid_set)} valid, vocab {tok.size}")
    print(f"Uniform loss would be {math.log(tok.size):.3f}")
    print("Training")
    train_model(model, CacheDataset(train_set), CacheDataset(valid_set))
    print("Done")
