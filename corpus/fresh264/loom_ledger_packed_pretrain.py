"""Tiny causal LM pretrained from scratch on packed synthetic "loom ledger" documents.

Documents come from four topic-specific Markov sources; they are packed back to back
with an end-of-document token into 32-token rows of equal length. Two micro-batches are
accumulated per optimizer step and the loss is normalised by the total token count.
Learning rate: linear warmup from 0, then cosine. A checkpoint is written half-way and
the run continues from a freshly built model + optimizer loaded from disk.
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 24
EOD = 0
N_TOPICS = 4
CTX = 32
MICRO_BS = 8
ACCUM = 2
STEPS = 240
WARMUP = 24
PEAK_LR = 6e-3
LOG_EVERY = 20
EVAL_EVERY = 60
CKPT_AT = 120

rng = np.random.default_rng(7)

# ---- synthetic corpus -------------------------------------------------------------
# each topic: a start distribution and a sparse transition matrix over tokens 1..47
starts = np.zeros((N_TOPICS, VOCAB))
trans = np.zeros((N_TOPICS, VOCAB, VOCAB))
for t in range(N_TOPICS):
    starts[t, 1 + rng.choice(VOCAB - 1, 4, replace=False)] = rng.dirichlet(np.ones(4))
    for a in range(1, VOCAB):
        nxt = 1 + rng.choice(VOCAB - 1, 3, replace=False)
        p = rng.dirichlet(np.ones(3) * 0.8) * 0.93
        trans[t, a, nxt] = p
        trans[t, a, EOD] = 0.07  # end of document


def make_stream(n_docs, seed):
    r = np.random.default_rng(seed)
    toks, oracle_nll = [EOD], []
    for _ in range(n_docs):
        t = r.integers(N_TOPICS)
        x = r.choice(VOCAB, p=starts[t])
        # the first token of a document is only predictable up to the topic mixture
        oracle_nll.append(-math.log(starts[:, x].mean()))
        toks.append(x)
        while True:
            p = trans[t, x]
            y = r.choice(VOCAB, p=p)
            oracle_nll.append(-math.log(p[y]))
            toks.append(y)
            if y == EOD:
                break
            x = y
    return np.array(toks, dtype=np.int32), float(np.mean(oracle_nll))


def pack(stream):
    n_rows = (len(stream) - 1) // CTX
    x = stream[: n_rows * CTX].reshape(n_rows, CTX)
    y = stream[1 : n_rows * CTX + 1].reshape(n_rows, CTX)
    return x, y


train_stream, _ = make_stream(2500, seed=1)
val_stream, oracle = make_stream(250, seed=2)
train_x, train_y = pack(train_stream)
val_x, val_y = pack(val_stream)

# count baselines on the training stream
uni = np.bincount(train_stream, minlength=VOCAB) + 1.0
uni /= uni.sum()
big = np.ones((VOCAB, VOCAB))
np.add.at(big, (train_stream[:-1], train_stream[1:]), 1.0)
big /= big.sum(1, keepdims=True)
uni_nll = float(-np.log(uni[val_y]).mean())
big_nll = float(-np.log(big[val_x, val_y]).mean())

print(f"corpus: {len(train_stream)} train tokens in {len(train_x)} packed rows of {CTX}, "
      f"{len(val_stream)} val tokens")
print(f"reference nats/token  unigram {uni_nll:.3f}  bigram {big_nll:.3f}  generator {oracle:.3f}")


# ---- model ------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab=VOCAB, d=32, heads=2, layers=2, ctx=CTX):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(h.dtype)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln_f(h))


def loss_sum(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="sum")


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    prog = (step - WARMUP) / (STEPS - WARMUP)
    return PEAK_LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def build(seed):
    mx.random.seed(seed)
    m = TinyLM()
    o = optim.AdamW(learning_rate=0.0, weight_decay=0.05)
    return m, o


def evaluate(model):
    tot, n = 0.0, 0
    for i in range(0, len(val_x), 64):
        xb, yb = mx.array(val_x[i : i + 64]), mx.array(val_y[i : i + 64])
        tot += loss_sum(model, xb, yb).item()
        n += yb.size
    return tot / n


model, opt = build(0)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"model: {n_params} parameters, {len(model.blocks)} blocks, ctx {CTX}, "
      f"{MICRO_BS}x{ACCUM} rows = {MICRO_BS * ACCUM * CTX} tokens per step")

grad_fn = nn.value_and_grad(model, loss_sum)
ckpt_dir = tempfile.mkdtemp(None, "loom_ckpt_")
order = rng.permutation(len(train_x))
cursor = 0
t_log, tok_log, loss_log = time.perf_counter(), 0, []

step = 0
while step < STEPS:
    if step == CKPT_AT:
        wpath = os.path.join(ckpt_dir, "model.safetensors")
        opath = os.path.join(ckpt_dir, "optimizer.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {step}: {sorted(os.listdir(ckpt_dir))}")
        # resume into fresh objects, as a restarted job would
        model, opt = build(123)
        model.load_weights(wpath)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        grad_fn = nn.value_and_grad(model, loss_sum)
        print(f"resumed from step {int(opt.state['step'].item())} (val {evaluate(model):.3f} nats)")

    opt.learning_rate = lr_at(step)
    acc_grads, acc_loss, acc_tok = None, 0.0, 0
    for _ in range(ACCUM):
        if cursor + MICRO_BS > len(order):
            order, cursor = rng.permutation(len(train_x)), 0
        idx = order[cursor : cursor + MICRO_BS]
        cursor += MICRO_BS
        xb, yb = mx.array(train_x[idx]), mx.array(train_y[idx])
        l, g = grad_fn(model, xb, yb)
        acc_grads = g if acc_grads is None else tree_unflatten(
            [(k, a + b) for (k, a), (_, b) in zip(tree_flatten(acc_grads), tree_flatten(g))])
        acc_loss = acc_loss + l
        acc_tok += yb.size
    grads = tree_unflatten([(k, v / acc_tok) for k, v in tree_flatten(acc_grads)])
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, acc_loss, gnorm)
    loss_log.append(acc_loss.item() / acc_tok)
    tok_log += acc_tok
    step += 1

    if step % LOG_EVERY == 0:
        dt = time.perf_counter() - t_log
        print(f"step {step:4d} | lr {lr_at(step - 1):.2e} | loss {np.mean(loss_log):.4f} | "
              f"gnorm {gnorm.item():.2f} | {tok_log / dt:,.0f} tok/s")
        t_log, tok_log, loss_log = time.perf_counter(), 0, []
    if step % EVAL_EVERY == 0:
        v = evaluate(model)
        print(f"  eval @ {step}: val {v:.4f} nats ({v / math.log(2):.3f} bits/token, ppl {math.exp(v):.2f})"
              f" | bigram {big_nll:.3f} | generator {oracle:.3f} | gap to generator {v - oracle:+.3f}")

final = evaluate(model)
print(f"final: val {final:.4f} nats/token vs unigram {uni_nll:.3f}, bigram {big_nll:.3f}, "
      f"generator {oracle:.3f}")
shutil.rmtree(ckpt_dir, ignore_errors=True)
