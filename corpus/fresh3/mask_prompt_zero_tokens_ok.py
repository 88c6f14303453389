"""Completion-only fine-tune of a tiny causal LM (prompt tokens masked out of the loss).

Some prompts are longer than max_seq_length; after truncation nothing of the completion is
left, so a batch made only of such rows has no token to score.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, DIM, MAX_LEN, BATCH = 48, 64, 24, 2
rng = np.random.default_rng(3)


def make_example(i):
    # the completion repeats the last prompt token; a few prompts are far too long
    plen = 40 if i % 60 in (40, 41) else int(rng.integers(4, 10))
    prompt = rng.integers(1, VOCAB, plen).tolist()
    completion = [prompt[-1]] * 6
    return prompt + completion, plen


data = [make_example(i) for i in range(180)]


def iterate_batches(data):
    for i in range(0, len(data) - BATCH + 1, BATCH):
        rows = data[i:i + BATCH]
        toks = np.zeros((BATCH, MAX_LEN), np.int32)
        offs = np.zeros((BATCH,), np.int32)
        lens = np.zeros((BATCH,), np.int32)
        for j, (seq, plen) in enumerate(rows):
            seq = seq[:MAX_LEN]
            toks[j, :len(seq)] = seq
            lens[j] = len(seq)
            offs[j] = min(plen, len(seq))
        yield mx.array(toks), mx.array(offs), mx.array(lens)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.blk = nn.TransformerEncoderLayer(DIM, 4, 128)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        return self.head(self.blk(self.emb(x), mask))


def default_loss(model, toks, offsets, lengths):
    inputs, targets = toks[:, :-1], toks[:, 1:]
    logits = model(inputs)
    pos = mx.arange(1, targets.shape[1] + 1)[None, :]
    steps_mask = (pos >= offsets[:, None]) & (pos < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, targets) * steps_mask
    ntoks = steps_mask.sum()
    return ce.sum() / mx.maximum(ntoks, 1), ntoks


model = TinyLM()
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, default_loss)

it = 0
t0 = time.perf_counter()
losses, seen = [], 0
for _epoch in range(4):
    for toks, offs, lens in iterate_batches(data):
        it += 1
        (lvalue, ntoks), grad = loss_and_grad(model, toks, offs, lens)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue, ntoks)
        losses.append(lvalue.item())
        seen += ntoks.item()
        if it % 20 == 0:
            dt = time.perf_counter() - t0
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, Learning Rate {2e-3:.3e}, "
                  f"It/sec {20 / dt:.3f}, Trained Tokens {seen}")
            losses, t0 = [], time.perf_counter()
print("done")
