# Tiny causal LM on a synthetic token corpus (a sparse Markov "language"
# over 95 symbols), trained with gradient accumulation like mini-llama:
# padded documents are concatenated into one long token array and a generator
# cuts (bsz, blk) micro-batches from it.
from functools import partial
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

V, PAD = 96, 95
SEQ = 32
rng = np.random.default_rng(11)

# ---- synthetic corpus: each symbol allows 3 next symbols ------------------
succ = rng.integers(0, V - 1, size=(V - 1, 3))
probs = rng.dirichlet(np.ones(3) * 2.0, size=V - 1)


def document(n):
    b = int(rng.integers(0, V - 1))
    out = [b]
    for _ in range(n - 1):
        b = int(succ[b, rng.choice(3, p=probs[b])])
        out.append(b)
    return np.array(out, dtype=np.int32)


train_docs = [document(int(rng.integers(200, 600))) for _ in range(120)]
val_docs = [document(400) for _ in range(6)]


def config_dataloader(docs, bsz, seq_len, pad_token_id):
    blk_size = seq_len + 1
    pad = lambda ex: np.pad(ex, (0, blk_size - ex.size % blk_size), constant_values=pad_token_id)
    examples = mx.array(np.concatenate([pad(d) for d in docs]))

    bblk_size = bsz * blk_size  # batch block size

    def load_data():
        while True:
            for i in range(0, len(examples), blk_size):
                bblk = examples[i:i + bblk_size]
                if bblk.size < bblk_size:
                    break
                bblk = bblk.reshape([bsz, blk_size])
                yield bblk[:, :-1], bblk[:, 1:]

    return load_data(), int(examples.size)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.RMSNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, d=64, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(SEQ, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, V, bias=False)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def forward(model, inputs, labels):
    keep = (labels != PAD)
    ce = nn.losses.cross_entropy(model(inputs), labels)
    return (ce * keep).sum() / keep.sum()


def val_loss(model):
    tot, n = 0.0, 0
    for d in val_docs:
        for s in range(0, len(d) - SEQ - 1, SEQ):
            x = mx.array(d[s:s + SEQ])[None]
            y = mx.array(d[s + 1:s + SEQ + 1])[None]
            tot += forward(model, x, y).item()
            n += 1
    return tot / n


BSZ, GRAD_ACC, N_STEPS = 8, 2, 150
mx.random.seed(0)
model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 15), optim.cosine_decay(3e-3, N_STEPS - 15)], [15]),
    weight_decay=0.01)
loader, n_tokens = config_dataloader(train_docs, BSZ, SEQ, PAD)
print(f"corpus: {n_tokens} train tokens, vocab {V}; uniform-guess loss {math.log(V - 1):.3f}")

state = [model.state, opt.state]
loss_and_grad = nn.value_and_grad(model, forward)

t0 = time.time()
acc_loss, acc_grads = 0.0, None
micro = N_STEPS * GRAD_ACC
for (x, y), i in zip(loader, range(micro)):
    loss, grads = loss_and_grad(model, x, y)
    acc_grads = grads if acc_grads is None else tree_map(mx.add, acc_grads, grads)
    mx.eval(loss, acc_grads)
    acc_loss += loss.item() / GRAD_ACC
    if (i + 1) % GRAD_ACC == 0:
        step = (i + 1) // GRAD_ACC
        opt.update(model, tree_map(lambda g: g / GRAD_ACC, acc_grads))
        mx.eval(state)
        if step % 15 == 0:
            print(f"step {step:4d} | train {acc_loss:.3f} | val {val_loss(model):.3f} "
                  f"| lr {opt.learning_rate.item():.2e} | {time.time() - t0:.1f}s")
        acc_loss, acc_grads = 0.0, None
