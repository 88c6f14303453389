"""Tiny next-token model trained on a synthetic token stream.

Reports a token-weighted loss and token accuracy per "round" (one pass over
the streamed shards), the same way the ORPO/SFT trainers accumulate metrics.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 256
SEQ = 48
BATCH = 16
DIM = 32
STEPS_PER_ROUND = 600
ROUNDS = 1
REPORT = 50

rng = np.random.default_rng(0)
# a fixed random "bigram" table so the stream is learnable
NEXT = rng.integers(0, VOCAB, size=(VOCAB,))


def make_batch():
    start = rng.integers(0, VOCAB, size=(BATCH, 1))
    toks = [start]
    for _ in range(SEQ):
        prev = toks[-1]
        noise = rng.random(prev.shape) < 0.15
        nxt = np.where(noise, rng.integers(0, VOCAB, size=prev.shape), NEXT[prev])
        toks.append(nxt)
    seq = np.concatenate(toks, axis=1)
    lengths = rng.integers(SEQ // 2, SEQ + 1, size=(BATCH,))
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.float32)
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:]), mx.array(mask)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, DIM))
        self.out = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        h = self.emb(x)
        h = h + self.mlp(h)
        return self.out(h)


def loss_fn(model, x, y, mask):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y) * mask
    ntoks = mask.sum()
    correct = ((logits.argmax(-1) == y) * mask).sum()
    return ce.sum() / ntoks, (ntoks, correct)


model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for rnd in range(ROUNDS):
    all_losses = mx.array(0.0)
    ntokens = mx.array(0.0)
    all_correct = mx.array(0.0)
    for it in range(1, STEPS_PER_ROUND + 1):
        x, y, mask = make_batch()
        (loss, (ntoks, correct)), grads = loss_and_grad(model, x, y, mask)
        opt.update(model, grads)
        all_losses += loss * ntoks
        ntokens += ntoks
        all_correct += correct
        mx.eval(model.parameters(), opt.state)
        if it % REPORT == 0:
            print(f"round {rnd} iter {it:5d}/{STEPS_PER_ROUND}  "
                  f"{(time.time() - t0) / it * 1000:.1f} ms/it", flush=True)
    mx.eval(all_losses, ntokens, all_correct)
    print(f"round {rnd} done: loss {(all_losses / ntokens).item():.4f} "
          f"tok_acc {(all_correct / ntokens).item():.3f}", flush=True)
