"""Span-corruption (T5-style) infilling on a thatcher's job ledger, trained as a
prefix LM: the corrupted record is read bidirectionally, the sentinel-delimited
target spans are generated causally, and the loss counts target tokens only.

The run is split in two sessions: session 1 saves weights + optimizer state to
a checkpoint, session 2 builds a fresh model and optimizer, loads both and
carries on (same step counter, same schedule). The corruption rate is raised
from 15% to 35% at step 250, so the per-token loss goes up there on purpose.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
D, HEADS, LAYERS = 48, 4, 2
LC, LT = 14, 14          # corrupted-prefix slots, target slots
BATCH = 32
TOTAL, SAVE_AT, HARDER_AT, EVERY = 360, 180, 250, 45
N_SENT = 6

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ------------------------------------------------------------------ records
VILLAGES = ["ashby", "brook", "colne", "dunwich", "elm", "fenny"]
REEDS = {"water": ("ridge_block", [5, 6]), "wheat": ("ridge_flush", [3, 4]),
         "longstraw": ("ridge_flush", [4, 5])}
SIZES = ["8", "10", "12", "14", "16"]
SPECIAL = ["<pad>", "<eos>"] + [f"<s{i}>" for i in range(N_SENT)]
WORDS = (["job", "roof", "sq", "reed", "ridge", "days", "coat"] + VILLAGES
         + list(REEDS) + ["ridge_block", "ridge_flush"] + SIZES
         + [str(d) for d in range(3, 9)] + ["new", "patch"])
VOCAB = SPECIAL + sorted(set(WORDS))
stoi = {w: i for i, w in enumerate(VOCAB)}
V, PAD, EOS = len(VOCAB), stoi["<pad>"], stoi["<eos>"]
SENT0 = stoi["<s0>"]


def record():
    reed = list(REEDS)[rng.integers(3)]
    ridge, day_opts = REEDS[reed]
    size = SIZES[rng.integers(5)]
    coat = "new" if rng.random() < 0.6 else "patch"
    days = day_opts[rng.integers(2)] + (2 if coat == "new" and int(size) >= 12 else 0)
    village = VILLAGES[rng.integers(6)]
    toks = ["job", village, "roof", size, "sq", "coat", coat, "reed", reed, ridge,
            "days", str(days)]
    return [stoi[t] for t in toks]


def corrupt(ids, rate):
    """Replace random spans (mean length ~2) by sentinels."""
    n = len(ids)
    n_noise = max(1, int(round(rate * n)))
    mask = np.zeros(n, bool)
    while mask.sum() < n_noise:
        start = rng.integers(n)
        length = 1 + rng.integers(2)
        mask[start:start + length] = True
    src, tgt, k, i = [], [], 0, 0
    while i < n:
        if mask[i]:
            src.append(SENT0 + k)
            tgt.append(SENT0 + k)
            while i < n and mask[i]:
                tgt.append(ids[i])
                i += 1
            k += 1
        else:
            src.append(ids[i])
            i += 1
    tgt.append(EOS)
    return src, tgt


def make_batch(n, rate):
    src = np.full((n, LC), PAD, np.int32)
    tgt = np.full((n, LT), PAD, np.int32)
    for r in range(n):
        s, t = corrupt(record(), rate)
        src[r, :len(s)], tgt[r, :len(t)] = s[:LC], t[:LT]
    return src, tgt


# ------------------------------------------------------------------ model
L = LC + LT


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiHeadAttention(D, HEADS)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class PrefixLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.ln = nn.LayerNorm(D)
        self.out = nn.Linear(D, V)

    def __call__(self, seq, mask):
        x = self.tok(seq) + self.pos(mx.arange(seq.shape[1]))
        for b in self.blocks:
            x = b(x, mask)
        return self.out(self.ln(x))


def attention_mask(seq):
    """Prefix part fully visible (minus pads); target part causal."""
    q = mx.arange(L)[:, None]
    k = mx.arange(L)[None, :]
    allowed = (k < LC) | (k <= q)                      # (L, L)
    key_ok = (seq != PAD) | (mx.arange(L)[None, :] == LC)
    allowed = allowed[None] & key_ok[:, None, :]        # (B, L, L)
    return mx.where(allowed, 0.0, -1e9)[:, None].astype(mx.float32)


def split(src, tgt):
    # decoder input is the target shifted right, starting from <eos> as a start symbol
    dec_in = np.concatenate([np.full((len(tgt), 1), EOS, np.int32), tgt[:, :-1]], 1)
    seq = mx.array(np.concatenate([src, dec_in], 1))
    return seq, mx.array(tgt)


def loss_fn(model, seq, tgt):
    logits = model(seq, attention_mask(seq))[:, LC:]
    w = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * w).sum() / w.sum()


def evaluate(model, batch):
    seq, tgt = batch
    logits = model(seq, attention_mask(seq))[:, LC:]
    w = tgt != PAD
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    loss = (ce * w).sum() / w.sum()
    right = ((mx.argmax(logits, -1) == tgt) & w).sum() / w.sum()
    return loss.item(), 100.0 * right.item()


def build():
    model = PrefixLM()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, TOTAL - 40, 1e-4)], [40])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return model, opt


held = {r: split(*make_batch(300, r)) for r in (0.15, 0.35)}


def row(step, rate, lr, train, model, t0):
    l15, a15 = evaluate(model, held[0.15])
    l35, a35 = evaluate(model, held[0.35])
    print(f"{step}\t{rate:.2f}\t{lr:.2e}\t{train:.4f}\t{l15:.4f}\t{a15:.1f}\t{l35:.4f}\t{a35:.1f}\t{time.time() - t0:.1f}",
          flush=True)


HEADER = "step\trate\tlr\ttrain_nats\theld15_nats\theld15_acc%\theld35_nats\theld35_acc%\tsecs"


def run_session(model, opt, first, last, ckpt_dir, t0):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    window, n = 0.0, 0
    for step in range(first, last + 1):
        rate = 0.15 if step < HARDER_AT else 0.35
        if step == HARDER_AT:
            print(f"# step {step}: corruption rate 0.15 -> 0.35", flush=True)
        seq, tgt = split(*make_batch(BATCH, rate))
        lr = opt.learning_rate.item()
        loss, grads = loss_and_grad(model, seq, tgt)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window += loss.item()
        n += 1
        if step % EVERY == 0:
            row(step, rate, lr, window / n, model, t0)
            window, n = 0.0, 0
    if ckpt_dir is not None:
        model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                            dict(tree_flatten(opt.state)))
        print(f"# checkpoint written after step {last} "
              f"({sum(v.size for _, v in tree_flatten(model.parameters()))} weights, "
              f"optimizer step {opt.state['step'].item()})", flush=True)


t0 = time.time()
print(f"# vocab {V}  records of 12 tokens  prefix {LC} + target {LT} slots  batch {BATCH}")
print(f"# chance accuracy {100.0 / V:.1f}%  uniform loss {math.log(V):.3f} nats")
with tempfile.TemporaryDirectory() as ckpt_dir:
    # ---------------- session 1
    model, opt = build()
    mx.eval(model.parameters())
    seq, tgt = split(*make_batch(BATCH, 0.15))
    _, g = nn.value_and_grad(model, loss_fn)(model, seq, tgt)
    flat = tree_flatten(g)
    print(f"# gradient check: {sum(1 for _, a in flat if mx.abs(a).max().item() > 0)}/{len(flat)} leaves non-zero")
    print(HEADER)
    row(0, 0.15, 0.0, float("nan"), model, t0)
    run_session(model, opt, 1, SAVE_AT, ckpt_dir, t0)
    before = evaluate(model, held[0.15])
    del model, opt

    # ---------------- session 2
    model, opt = build()
    model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    state = mx.load(os.path.join(ckpt_dir, "optimizer.safetensors"))
    opt.state = tree_unflatten(list(state.items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, held[0.15])
    print(f"# resumed at optimizer step {opt.state['step'].item()}: held15 {before[0]:.4f} -> {after[0]:.4f} nats after reload")
    print(HEADER)
    run_session(model, opt, SAVE_AT + 1, TOTAL, None, t0)

l15, a15 = evaluate(model, held[0.15])
l35, a35 = evaluate(model, held[0.35])
print(f"# done: held15 {a15:.1f}% / {l15:.4f} nats, held35 {a35:.1f}% / {l35:.4f} nats, {time.time() - t0:.1f}s")
