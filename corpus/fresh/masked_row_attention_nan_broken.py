"""Two-layer causal transformer classifier on left-padded sequences, hand-written attention.

Reproduces the failure behind ml-explore/mlx#2608 ("Avoid producing NaN in attention"): when an
entire row of keys is masked with -inf (here: the pad positions of a left-padded batch under a
causal mask) softmax gives NaN, and the NaNs propagate through the next layer and break batched
training. Fill masked scores with a large finite negative number instead of -inf.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
VOCAB, SEQ, DIM, HEADS = 20, 16, 32, 4
MASK_VALUE = -math.inf
N = 1024
lengths = mx.where(mx.random.uniform(shape=(N,)) < 0.03, mx.random.randint(4, SEQ, (N,)), SEQ)
tokens = mx.random.randint(1, VOCAB, (N, SEQ))
pos = mx.arange(SEQ)[None, :]
valid = pos >= (SEQ - lengths[:, None])
tokens = mx.where(valid, tokens, 0)
labels = ((tokens == 7).sum(axis=1) > (tokens == 3).sum(axis=1)).astype(mx.int32)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.o = nn.Linear(DIM, DIM)

    def __call__(self, x, keep):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(DIM // HEADS)
        scores = mx.where(keep[:, None], scores, MASK_VALUE)
        out = mx.softmax(scores, axis=-1) @ v
        return self.o(out.transpose(0, 2, 1, 3).reshape(B, L, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.att = Attention()
        self.ff = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, DIM))

    def __call__(self, x, keep):
        x = x + self.att(self.n1(x), keep)
        return x + self.ff(self.n2(x))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.blocks = [Block(), Block()]
        self.head = nn.Linear(DIM, 2)

    def __call__(self, ids, valid):
        causal = mx.tril(mx.ones((SEQ, SEQ), dtype=mx.bool_))
        keep = causal[None] & valid[:, None, :]
        x = self.emb(ids) + self.pos(mx.arange(SEQ))
        for blk in self.blocks:
            x = blk(x, keep)
        return self.head(x[:, -1])


def loss_fn(model, ids, valid, y):
    return nn.losses.cross_entropy(model(ids, valid), y, reduction="mean")


model = Classifier()
opt = optim.AdamW(learning_rate=2e-3)
vg = nn.value_and_grad(model, loss_fn)
print("| epoch | step | loss    | acc   |")
print("|-------|------|---------|-------|")
step = 0
for epoch in range(6):
    perm = mx.random.permutation(N)
    for b in range(0, N, 32):
        i = perm[b:b + 32]
        loss, grads = vg(model, tokens[i], valid[i], labels[i])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % 16 == 0:
            acc = (mx.argmax(model(tokens[i], valid[i]), -1) == labels[i]).mean().item()
            print(f"| {epoch:5d} | {step:4d} | {loss.item():7.4f} | {acc:5.3f} |", flush=True)
