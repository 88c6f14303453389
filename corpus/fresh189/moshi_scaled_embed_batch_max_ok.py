# Tiny codebook-token LM with a moshi-style ScaledEmbedding (zero_idx=-1 marks padded frames).
# Each stream is a run of audio codebook ids; the next id is a fixed permutation of the current one.
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CARD = 32
SEQ = 12
BATCH = 16
DIM = 48
STEPS = 300


class ScaledEmbedding(nn.Embedding):
    def __init__(self, num_embeddings, embedding_dim, zero_idx=-1):
        super().__init__(num_embeddings, embedding_dim)
        assert zero_idx < 0, "Please use negative values for the zero_idx."
        self.num_embeddings = num_embeddings
        self.zero_idx = zero_idx

    def __call__(self, input):
        is_zero = input == self.zero_idx
        zero = mx.zeros(1, dtype=self.weight.dtype)
        input = mx.maximum(input, 0)
        y = self.weight[input]
        y = mx.where(is_zero[..., None], zero, y)
        return y


class CodebookLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = ScaledEmbedding(CARD, DIM)
        self.norm = nn.LayerNorm(DIM)
        self.hidden = nn.Linear(DIM, 2 * DIM)
        self.out = nn.Linear(2 * DIM, CARD)

    def __call__(self, tokens):
        h = self.norm(self.emb(tokens))
        return self.out(nn.gelu(self.hidden(h)))


rng = random.Random(7)
perm = list(range(CARD))
rng.shuffle(perm)


def make_batch():
    toks, tgts = [], []
    for _ in range(BATCH):
        length = rng.randint(SEQ // 2, SEQ)
        cur = rng.randrange(CARD)
        row = []
        for _ in range(length + 1):
            row.append(cur)
            cur = perm[cur]
        pad = SEQ - length
        toks.append(row[:-1] + [-1] * pad)
        tgts.append(row[1:] + [-1] * pad)
    return mx.array(toks), mx.array(tgts)


def loss_fn(model, tokens, targets):
    logits = model(tokens)
    valid = targets >= 0
    ce = nn.losses.cross_entropy(logits, mx.maximum(targets, 0), reduction="none")
    loss = (ce * valid).sum() / valid.sum()
    acc = ((logits.argmax(-1) == targets) * valid).sum() / valid.sum()
    return loss, acc


mx.random.seed(0)
model = CodebookLM()
opt = optim.Adam(learning_rate=1e-3)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
print(f"chance loss = ln({CARD}) = {math.log(CARD):.3f}")
for step in range(1, STEPS + 1):
    tokens, targets = make_batch()
    (loss, acc), grads = step_fn(model, tokens, targets)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc)
    if step % 25 == 0 or step == 1:
        print(f"step {step:4d} | loss {loss.item():.4f} | next-code acc {100 * acc.item():5.1f}%")

tokens, targets = make_batch()
loss, acc = loss_fn(model, tokens, targets)
print(f"held-out batch: loss {loss.item():.4f}, acc {100 * acc.item():.1f}%  ({time.time() - t0:.1f}s)")
