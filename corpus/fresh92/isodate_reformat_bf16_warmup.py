"""Tiny causal transformer that rewrites ISO dates ("2024-03-07=") as
"07 MAR 2024".  Teacher-forced training with the loss on the answer bytes
only; held-out dates are decoded greedily and scored by exact match (%).

Mixed precision: the optimizer owns float32 master weights and every forward
pass runs on a bfloat16 copy made inside the loss, so gradients come back as
float32.  The learning rate warms up from exactly 0.  One JSON object per line.
"""
import datetime as dt
import json
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN",
          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
VOCAB = sorted(set("0123456789-= " + "".join(MONTHS)))
STOI = {c: i for i, c in enumerate(VOCAB)}
PROMPT, ANSWER = 11, 11          # "YYYY-MM-DD=" and "DD MON YYYY"
SEQ = PROMPT + ANSWER


def render(d):
    return f"{d.isoformat()}=", f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}"


def encode(s):
    return [STOI[c] for c in s]


def make_split(seed):
    rnd = random.Random(seed)
    start = dt.date(1900, 1, 1).toordinal()
    span = dt.date(2099, 12, 31).toordinal() - start
    days = rnd.sample(range(span + 1), 12400)
    dates = [dt.date.fromordinal(start + k) for k in days]
    rows = np.array([encode(p + a) for p, a in map(render, dates)], dtype=np.int32)
    return rows[:12000], rows[12000:]


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.ff1 = nn.Linear(dims, 4 * dims)
        self.ff2 = nn.Linear(4 * dims, dims)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class DateRewriter(nn.Module):
    def __init__(self, vocab, ctx, dims=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(ctx, dims)
        self.blocks = [Block(dims, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(x.dtype)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


BATCH, STEPS, WARMUP, PEAK_LR, EVAL_EVERY = 64, 120, 30, 3e-3, 20
COMPUTE = mx.bfloat16

train_np, test_np = make_split(3)
np_rng = np.random.default_rng(3)
mx.random.seed(3)
model = DateRewriter(len(VOCAB), SEQ - 1)
master = model.parameters()                  # float32 masters, owned by the loop
mx.eval(master)

# loss only where the *next* token is part of the answer
answer_mask = mx.array((np.arange(SEQ - 1) >= PROMPT - 1).astype(np.float32))


def to_compute(tree):
    return tree_map(lambda p: p.astype(COMPUTE), tree)


def loss_fn(params, rows):
    model.update(to_compute(params))
    x, y = rows[:, :-1], rows[:, 1:]
    logits = model(x).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * answer_mask).sum() / (answer_mask.sum() * rows.shape[0])


grad_fn = mx.value_and_grad(loss_fn)
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
     optim.cosine_decay(PEAK_LR, STEPS - WARMUP, end=PEAK_LR * 0.05)],
    [WARMUP])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)


def greedy_exact_match(rows, chunk=400):
    model.update(to_compute(master))
    hits, char_hits = 0, 0
    for i in range(0, len(rows), chunk):
        block = rows[i:i + chunk]
        seq = mx.array(block[:, :PROMPT])
        for _ in range(ANSWER):
            nxt = mx.argmax(model(seq)[:, -1, :], axis=-1)
            seq = mx.concatenate([seq, nxt[:, None].astype(seq.dtype)], axis=1)
        got = np.array(seq[:, PROMPT:])
        want = block[:, PROMPT:]
        hits += int((got == want).all(axis=1).sum())
        char_hits += int((got == want).sum())
    return 100.0 * hits / len(rows), 100.0 * char_hits / rows[:, PROMPT:].size


def emit(**kw):
    print(json.dumps(kw), flush=True)


p, a = render(dt.date(2024, 3, 7))
n_params = sum(v.size for _, v in tree_flatten(master))
em0, ch0 = greedy_exact_match(test_np)
emit(event="start", example=p + a, vocab=len(VOCAB), train=len(train_np),
     test=len(test_np), params=int(n_params), compute=str(COMPUTE),
     master="float32", test_exact_pct=round(em0, 2), test_char_pct=round(ch0, 2))

t0 = time.time()
window = []
for step in range(1, STEPS + 1):
    rows = mx.array(train_np[np_rng.integers(0, len(train_np), size=BATCH)])
    lr_used = schedule(opt.step).item()
    loss, grads = grad_fn(master, rows)
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
        emit(event="grad_check", step=1, lr=lr_used, leaves=len(flat),
             zero_leaves=zero, grad_dtype=str(flat[0][1].dtype))
    master = opt.apply_gradients(grads, master)
    mx.eval(master, opt.state, loss)
    window.append(loss.item())
    if step % EVAL_EVERY == 0:
        em, ch = greedy_exact_match(test_np)
        emit(event="eval", step=step, lr=round(lr_used, 6),
             answer_nll=round(float(np.mean(window)), 4),
             test_exact_pct=round(em, 2), test_char_pct=round(ch, 2),
             secs=round(time.time() - t0, 1))
        window = []

em, ch = greedy_exact_match(test_np)
dtypes = sorted({str(v.dtype) for _, v in tree_flatten(master)})
emit(event="done", steps=STEPS, test_exact_pct=round(em, 2),
     test_char_pct=round(ch, 2), master_dtypes=dtypes,
     secs=round(time.time() - t0, 1))
