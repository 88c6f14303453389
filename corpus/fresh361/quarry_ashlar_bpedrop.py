"""Stonemason's yard job tickets: learn a BPE vocabulary, then train a small causal transformer
language model on the tickets with BPE-dropout (subword regularisation).

Training batches are segmented stochastically (each merge skipped with p=0.1), so
the training loss is measured on longer, noisier segmentations than the held-out
loss, which always uses the deterministic BPE. Bits per character (not per token)
are reported so both views can be compared with a character unigram baseline.
"""
import math
import random
import time
from collections import Counter

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

STONES = ["limestone", "sandstone", "granite", "slate", "portland", "bath stone"]
PIECES = ["ashlar", "coping", "sill", "lintel", "quoin", "corbel", "kerb"]
FINISH = ["tooled", "rubbed", "sawn", "split", "honed", "bush hammered"]
SITES = ["north aisle", "tower", "porch", "boundary wall", "gatehouse", "chancel"]


def ticket():
    l, w, h = random.choice([300, 450, 600, 900]), random.choice([150, 200, 300]), random.choice([100, 150, 225])
    s = f"{random.choice(PIECES)} {l}x{w}x{h} {random.choice(STONES)}, {random.choice(FINISH)} face"
    if random.random() < 0.5:
        s += f", qty {random.randint(1, 24)}"
    s += f" for {random.choice(SITES)}"
    return s + "."


train_lines = [ticket() for _ in range(2400)]
valid_lines = [ticket() for _ in range(200)]

# ---------------- BPE learned on the training tickets ----------------
chars = sorted(set("".join(train_lines + valid_lines)))
PAD, BOS, EOS = 0, 1, 2
vocab = ["<pad>", "<bos>", "<eos>"] + chars
NUM_MERGES = 90

words = Counter()
for line in train_lines:
    for wd in line.split(" "):
        words[tuple(wd)] += 1
merges = []
for _ in range(NUM_MERGES):
    pairs = Counter()
    for wd, c in words.items():
        for a, b in zip(wd, wd[1:]):
            pairs[(a, b)] += c
    if not pairs:
        break
    (a, b), _ = pairs.most_common(1)[0]
    merges.append((a, b))
    vocab.append(a + b)
    new_words = Counter()
    for wd, c in words.items():
        out, i = [], 0
        while i < len(wd):
            if i + 1 < len(wd) and wd[i] == a and wd[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(wd[i])
                i += 1
        new_words[tuple(out)] += c
    words = new_words
stoi = {t: i for i, t in enumerate(vocab)}
rank = {m: r for r, m in enumerate(merges)}
SPACE = stoi[" "]
V = len(vocab)


def bpe_word(wd, p_drop):
    syms = list(wd)
    while len(syms) > 1:
        best, best_i = None, -1
        for i, pr in enumerate(zip(syms, syms[1:])):
            r = rank.get(pr)
            if r is None or (p_drop > 0 and random.random() < p_drop):
                continue
            if best is None or r < best:
                best, best_i = r, i
        if best is None:
            break
        syms[best_i:best_i + 2] = [syms[best_i] + syms[best_i + 1]]
    return syms


def encode(line, p_drop=0.0):
    ids = [BOS]
    for k, wd in enumerate(line.split(" ")):
        if k:
            ids.append(SPACE)
        ids.extend(stoi[t] for t in bpe_word(wd, p_drop))
    return ids + [EOS]


def batchify(lines, p_drop):
    seqs = [encode(s, p_drop) for s in lines]
    T = max(len(s) for s in seqs)
    x = [s[:-1] + [PAD] * (T - len(s)) for s in seqs]
    y = [s[1:] + [PAD] * (T - len(s)) for s in seqs]
    nchar = sum(len(s) + 1 for s in lines)  # characters plus end-of-ticket
    return mx.array(x), mx.array(y), nchar, sum(len(s) - 1 for s in seqs)


det_train_tokens = sum(len(encode(s)) for s in train_lines[:500]) / 500
drop_train_tokens = sum(len(encode(s, 0.1)) for s in train_lines[:500]) / 500
print(f"vocab {V} ({len(chars)} chars + {len(merges)} merges + 3 specials)")
print(f"tokens per ticket: deterministic {det_train_tokens:.1f}, bpe-dropout(0.1) {drop_train_tokens:.1f}")

# character unigram baseline (bits per char on the valid set)
cc = Counter("".join(train_lines) + "\n" * len(train_lines))
tot = sum(cc.values())
vtext = "".join(valid_lines) + "\n" * len(valid_lines)
uni_bpc = -sum(math.log2(cc[c] / tot) for c in vtext) / len(vtext)
print(f"baseline: character unigram {uni_bpc:.3f} bits/char")


class TicketLM(nn.Module):
    def __init__(self, V, d=48, max_len=64):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(max_len, d)
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.lnf = nn.LayerNorm(d)
        self.out = nn.Linear(d, V)

    def __call__(self, x):
        T = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        a = self.ln1(h)
        h = h + self.attn(a, a, a, mask)
        h = h + self.mlp(self.ln2(h))
        return self.out(self.lnf(h))


def loss_fn(model, x, y):
    logits = model(x)
    mask = (y != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none") * mask
    return ce.sum() / mask.sum(), ce.sum()


model = TicketLM(V)
mx.eval(model.parameters())
STEPS, BS = 160, 32
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, STEPS - 20, 1e-4)], [20])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
grad_fn = nn.value_and_grad(model, lambda m, x, y: loss_fn(m, x, y)[0])


def evaluate(lines, p_drop):
    tot_nats, tot_chars, tot_tok = 0.0, 0, 0
    for i in range(0, len(lines), 100):
        x, y, nchar, ntok = batchify(lines[i:i + 100], p_drop)
        _, s = loss_fn(model, x, y)
        tot_nats += s.item()
        tot_chars += nchar
        tot_tok += ntok
    return tot_nats / tot_tok, tot_nats / tot_chars / math.log(2)


t0 = time.time()
for step in range(1, STEPS + 1):
    batch = random.sample(train_lines, BS)
    x, y, nchar, ntok = batchify(batch, 0.1)
    loss, grads = grad_fn(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 20 == 0 or step == 1:
        tr_bpc = loss.item() * ntok / nchar / math.log(2)
        msg = (f"step {step:4d} lr {opt.learning_rate.item():.5f} train(dropout) "
               f"loss/tok {loss.item():.3f} bpc {tr_bpc:.3f} |g| {gnorm.item():.2f}")
        if step % 80 == 0:
            vl, vb = evaluate(valid_lines, 0.0)
            msg += f" | valid(det) loss/tok {vl:.3f} bpc {vb:.3f}"
        print(msg, flush=True)

vl, vb = evaluate(valid_lines, 0.0)
dl, db = evaluate(valid_lines, 0.1)
print(f"final valid deterministic: loss/tok {vl:.3f} bpc {vb:.3f}")
print(f"final valid bpe-dropout : loss/tok {dl:.3f} bpc {db:.3f}")
print(f"unigram baseline bpc {uni_bpc:.3f}; gain {uni_bpc - vb:.3f} bits/char")
print(f"done in {time.time() - t0:.1f}s")
