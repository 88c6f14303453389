"""Fine-tune a one-block causal transformer to invent fantasy names, then sample.

Logs JSON lines; a sampling report at the end shows how names terminate.
"""
import json
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

SYL = ["ka", "ri", "mo", "tel", "an", "dor", "i", "sha", "vin", "el", "ru", "gor", "li", "ne", "th"]
names = sorted({"".join(random.choice(SYL) for _ in range(random.randint(2, 4))).capitalize()
                for _ in range(3000)})
random.shuffle(names)


class CharTokenizer:
    pad_token_id, eos_token_id, bos_token_id = 0, 1, 2

    def __init__(self, corpus):
        self.chars = sorted(set("".join(corpus)))
        self.stoi = {c: i + 3 for i, c in enumerate(self.chars)}
        self.itos = {i: c for c, i in self.stoi.items()}
        self.vocab_size = len(self.chars) + 3

    def encode(self, text):
        return [self.bos_token_id] + [self.stoi[c] for c in text]

    def decode(self, ids):
        return "".join(self.itos.get(i, "") for i in ids)


tok = CharTokenizer(names)
train_names, valid_names = names[:-200], names[-200:]


def iterate_batches(dataset, tokenizer, batch_size, max_seq_length, train=False):
    idx = list(range(len(dataset)))
    while True:
        if train:
            random.shuffle(idx)
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            batch = [tokenizer.encode(dataset[j]) for j in idx[i:i + batch_size]]
            for b in batch:
                if b[-1] == tokenizer.eos_token_id:
                    print("[WARNING] Example already has an EOS token appended")
                else:
                    b.append(tokenizer.eos_token_id)
            lengths = [len(x) for x in batch]
            width = min(max(lengths), max_seq_length)
            arr = np.zeros((batch_size, width), dtype=np.int32)
            for k, b in enumerate(batch):
                arr[k, :min(len(b), width)] = b[:width]
            arr = mx.array(arr)
            yield arr[:, :-1], arr[:, 1:], mx.array(lengths)
        if not train:
            break


class TinyCausalLM(nn.Module):
    def __init__(self, vocab, dims=64, heads=4, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.block = nn.TransformerEncoderLayer(dims, heads, mlp_dims=4 * dims)
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.norm(self.block(h, mask)))


def loss_fn(model, inputs, targets, lengths):
    logits = model(inputs)
    pos = mx.arange(1, targets.shape[1] + 1)
    mask = pos[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def sample(model, n, max_new=24, temp=0.8):
    seqs = mx.full((n, 1), tok.bos_token_id, dtype=mx.int32)
    finished = np.zeros(n, dtype=bool)
    for _ in range(max_new):
        logits = model(seqs)[:, -1, :] / temp
        nxt = mx.random.categorical(logits)
        seqs = mx.concatenate([seqs, nxt[:, None].astype(mx.int32)], axis=1)
        finished |= np.array(nxt) == tok.eos_token_id
        if finished.all():
            break
    out = []
    for row in np.array(seqs)[:, 1:].tolist():
        stopped = tok.eos_token_id in row
        out.append((tok.decode(row[:row.index(tok.eos_token_id)] if stopped else row), stopped))
    return out


model = TinyCausalLM(tok.vocab_size)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

ITERS, BS = 500, 32
t0 = time.time()
run_loss, run_tok = 0.0, 0
for it, batch in zip(range(1, ITERS + 1), iterate_batches(train_names, tok, BS, 32, train=True)):
    (loss, ntoks), grads = step_fn(model, *batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss += loss.item() * ntoks.item()
    run_tok += ntoks.item()
    if it % 100 == 0:
        vl, vt = 0.0, 0
        for vb in iterate_batches(valid_names, tok, 50, 32):
            l, t = loss_fn(model, *vb)
            vl += l.item() * t.item()
            vt += t.item()
        print(json.dumps({"iter": it, "train_loss": round(run_loss / run_tok, 4),
                          "val_loss": round(vl / vt, 4), "elapsed_s": round(time.time() - t0, 1)}))
        run_loss, run_tok = 0.0, 0

samples = sample(model, 200)
n_stop = sum(s for _, s in samples)
lens = [len(n) for n, _ in samples]
print(json.dumps({"samples": [n for n, _ in samples[:8]],
                  "terminated_with_eos": f"{n_stop}/{len(samples)}",
                  "mean_len_chars": round(float(np.mean(lens)), 1),
                  "train_mean_len_chars": round(float(np.mean([len(n) for n in train_names])), 1)}))
