"""Tiny autoresearch-style GPT on synthetic weather-log text (MLX).

Muon on the 2-D hidden matrices, AdamW on everything else, one compiled
train step, val_bpb at the end.
"""
import math
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
SEQ_LEN = 32
BATCH = 16
D_MODEL = 48
N_HEAD = 4
N_LAYER = 2
TRAIN_STEPS = 160
EVAL_EVERY = 20
MATRIX_LR = 0.02
ADAMW_LR = 3e-3

random.seed(SEED)
mx.random.seed(SEED)


# ----------------------------------------------------------------- data
def make_corpus(n_lines):
    towns = ["oban", "wick", "lerwick", "tiree", "malin", "stornoway", "kirkwall"]
    skies = ["clear", "overcast", "showers", "rain", "drizzle", "fog", "snow"]
    dirs = ["n", "ne", "e", "se", "s", "sw", "w", "nw"]
    lines = []
    for _ in range(n_lines):
        t = random.choice(towns)
        d = random.choice(dirs)
        f = random.randint(1, 9)
        temp = random.randint(-3, 17)
        sky = random.choice(skies)
        if sky == "snow":
            temp = min(temp, 1)
        lines.append(f"{t}: wind {d} {f}, {sky}, {temp}c.\n")
    return "".join(lines)


text = make_corpus(6000)
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
VOCAB = len(chars)
ids = mx.array([stoi[c] for c in text], dtype=mx.int32)
split = int(0.9 * ids.size)
train_ids, val_ids = ids[:split], ids[split:]


def get_batch(src, bs):
    starts = mx.random.randint(0, src.size - SEQ_LEN - 1, (bs,))
    offs = mx.arange(SEQ_LEN + 1)
    win = src[starts[:, None] + offs[None, :]]
    return win[:, :-1], win[:, 1:]


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.n1 = nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.n2 = nn.RMSNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.proj(nn.relu(self.fc(self.n2(x))) ** 2)


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D_MODEL)
        self.wpe = nn.Embedding(SEQ_LEN, D_MODEL)
        self.blocks = [Block(D_MODEL, N_HEAD) for _ in range(N_LAYER)]
        self.norm = nn.RMSNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)

    def __call__(self, x):
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.wte(x) + self.wpe(mx.arange(T))
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


model = GPT()
mx.eval(model.parameters())


def is_matrix(path, w):
    return w.ndim == 2 and path.startswith("blocks")


optimizer = optim.MultiOptimizer(
    [optim.Muon(learning_rate=MATRIX_LR), optim.AdamW(learning_rate=ADAMW_LR, weight_decay=0.0)],
    [is_matrix],
)


def loss_fn(model, x, y):
    logits = model(x)
    return mx.mean(nn.losses.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1)))


def evaluate_bpb(n_batches=20):
    tot = 0.0
    for _ in range(n_batches):
        x, y = get_batch(val_ids, 32)
        tot += loss_fn(model, x, y).item()
    return tot / n_batches / math.log(2)  # one char == one byte here


loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

# compile the loss+grad function for speed
train_step = mx.compile(loss_and_grad_fn, inputs=model.trainable_parameters())

# ---------------------------------------------------------------- train
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"vocab={VOCAB} chars={ids.size} params={n_params}")
print(f"val_bpb before training: {evaluate_bpb():.4f}")
t0 = time.time()
smooth = 0.0
for step in range(1, TRAIN_STEPS + 1):
    x, y = get_batch(train_ids, BATCH)
    loss, grads = train_step(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    smooth = 0.9 * smooth + 0.1 * loss.item()
    if step % EVAL_EVERY == 0:
        debiased = smooth / (1 - 0.9 ** step)
        print(f"step {step:04d} | loss {debiased:.4f} nats | {time.time() - t0:.1f}s")

print("---")
print(f"val_bpb:          {evaluate_bpb():.6f}")
print(f"training_seconds: {time.time() - t0:.1f}")
print(f"num_steps:        {TRAIN_STEPS}")
