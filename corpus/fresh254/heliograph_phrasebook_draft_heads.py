"""Heliograph phrasebook: train a small causal target model on flash-code token
streams, freeze it, then fit three lookahead draft heads on its hidden states and
measure how many tokens a draft-and-verify step accepts."""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 16
SEQ = 16
DIM = 32
N_DRAFT = 3

rng = np.random.default_rng(7)

# Phrasebook grammar: a second-order chain where most (a, b) pairs have one
# dominant successor, plus 12% uniform noise so every horizon has a floor.
succ = rng.integers(0, VOCAB, size=(VOCAB, VOCAB))
alt = rng.integers(0, VOCAB, size=(VOCAB, VOCAB))


def make_streams(n):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    out[:, 0] = rng.integers(0, VOCAB, n)
    out[:, 1] = rng.integers(0, VOCAB, n)
    for t in range(2, SEQ + 1):
        a, b = out[:, t - 2], out[:, t - 1]
        u = rng.random(n)
        nxt = np.where(u < 0.76, succ[a, b], alt[a, b])
        noise = rng.integers(0, VOCAB, n)
        out[:, t] = np.where(u > 0.88, noise, nxt)
    return out


train_np = make_streams(2400)
held_np = make_streams(300)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1 = nn.RMSNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.n2 = nn.RMSNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.n2(x))


class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.blocks = [Block(DIM, 2)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def hidden(self, ids):
        L = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            x = b(x, mask)
        return self.norm(x)

    def __call__(self, ids):
        return self.head(self.hidden(ids))


class DraftHeads(nn.Module):
    """Head k (k = 0, 1, 2) reads the hidden state at t and guesses token t+2+k."""

    def __init__(self):
        super().__init__()
        self.res = [nn.Linear(DIM, DIM) for _ in range(N_DRAFT)]
        self.out = [nn.Linear(DIM, VOCAB) for _ in range(N_DRAFT)]

    def __call__(self, h):
        return [o(h + nn.silu(r(h))) for r, o in zip(self.res, self.out)]


def batches(data, bs, seed):
    order = np.random.default_rng(seed).permutation(len(data))
    for i in range(0, len(order) - bs + 1, bs):
        yield mx.array(data[order[i:i + bs]])


# ---------------- stage 1: target model ----------------
mx.random.seed(0)
target = Target()
opt_t = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def target_loss(m, seq):
    logits = m(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


t_step = nn.value_and_grad(target, target_loss)
t0 = time.time()
step = 0
print("stage 1: target model, logging every 100 steps")
for ep in range(4):
    for seq in batches(train_np, 32, ep):
        loss, g = t_step(target, seq)
        opt_t.update(target, g)
        mx.eval(target.parameters(), opt_t.state, loss)
        if step % 100 == 0:
            print(f"  target step {step:4d}  loss {loss.item():.4f}")
        step += 1
held = mx.array(held_np)
tl = target_loss(target, held).item()
print(f"  target held-out loss {tl:.4f} after {step} steps ({time.time() - t0:.1f}s)")

target.freeze()
target.eval()

# The target is frozen from here on; only the draft heads receive updates.
# ---------------- stage 2: draft heads ----------------
TOTAL = 200
WARM = 30
PEAK = 3e-3
RESUME_AT = 100


def lr_at(s):
    s = float(s)
    if s < WARM:
        return PEAK * s / WARM
    p = (s - WARM) / (TOTAL - WARM)
    return PEAK * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def make_opt(offset):
    return optim.Adam(learning_rate=lambda s: mx.array(lr_at(s.item() + offset)))


weights = [1.0, 0.8, 0.64]


def heads_loss(m, h, seq):
    outs = m(h)
    tot = 0.0
    parts = []
    for k, lg in enumerate(outs):
        shift = 2 + k
        pred = lg[:, : SEQ - shift + 1]
        tgt = seq[:, shift: SEQ + 1]
        ce = nn.losses.cross_entropy(pred, tgt, reduction="mean")
        parts.append(ce)
        tot = tot + weights[k] * ce
    return tot / sum(weights), parts


def head_metrics(m):
    h = target.hidden(held[:, :-1])
    outs = m(h)
    accs, ces = [], []
    for k, lg in enumerate(outs):
        shift = 2 + k
        pred = lg[:, : SEQ - shift + 1]
        tgt = held[:, shift: SEQ + 1]
        ces.append(nn.losses.cross_entropy(pred, tgt, reduction="mean").item())
        accs.append((pred.argmax(-1) == tgt).astype(mx.float32).mean().item())
    return ces, accs


# unigram baseline accuracy for each horizon (most common token overall)
counts = np.bincount(train_np[:, 2:].ravel(), minlength=VOCAB)
uni_acc = (held_np[:, 2:] == counts.argmax()).mean()
print(f"stage 2: draft heads, unigram baseline accuracy {uni_acc:.3f}")
print(f"  lr schedule: linear warmup from 0 over {WARM} steps, cosine to step {TOTAL}")

mx.random.seed(1)
heads = DraftHeads()
opt_h = make_opt(0)
h_step = nn.value_and_grad(heads, lambda m, h, s: heads_loss(m, h, s)[0])

ckpt = os.path.join(tempfile.mkdtemp(), "draft_heads.safetensors")
gstep = 0
ep = 0
while gstep < TOTAL:
    for seq in batches(train_np, 32, 100 + ep):
        if gstep >= TOTAL:
            break
        h = mx.stop_gradient(target.hidden(seq[:, :-1]))
        loss, g = h_step(heads, h, seq)
        opt_h.update(heads, g)
        mx.eval(heads.parameters(), opt_h.state, loss)
        if gstep % 25 == 0:
            ces, accs = head_metrics(heads)
            print(f"  step {gstep:3d} lr {lr_at(gstep):.2e} loss {loss.item():.4f} | "
                  + " ".join(f"h{k+2}: ce {c:.3f} acc {a:.3f}" for k, (c, a) in enumerate(zip(ces, accs))))
        gstep += 1
        if gstep == RESUME_AT:
            heads.save_weights(ckpt)
            print(f"  checkpoint written at step {gstep}; reloading into a fresh module")
            heads = DraftHeads()
            heads.load_weights(ckpt)
            opt_h = make_opt(RESUME_AT)
            h_step = nn.value_and_grad(heads, lambda m, h, s: heads_loss(m, h, s)[0])
            ces, accs = head_metrics(heads)
            print("  resumed: " + " ".join(f"h{k+2} acc {a:.3f}" for k, a in enumerate(accs)))
    ep += 1

ces, accs = head_metrics(heads)
print("final head metrics (horizon: ce / top-1 acc / unigram acc)")
for k in range(N_DRAFT):
    print(f"  t+{k+2}: {ces[k]:.4f} / {accs[k]:.3f} / {uni_acc:.3f}")

# ---------------- draft-and-verify acceptance ----------------
ctx_len = 8
ctx = held[:200, :ctx_len]
# target greedy continuation of 4 tokens
cur = ctx
greedy = []
for _ in range(1 + N_DRAFT):
    nxt = target(cur)[:, -1].argmax(-1)
    greedy.append(nxt)
    cur = mx.concatenate([cur, nxt[:, None]], axis=1)
greedy = mx.stack(greedy, axis=1)
hs = target.hidden(ctx)[:, -1]
drafts = mx.stack([o.argmax(-1) for o in heads(hs)], axis=1)
match = (drafts == greedy[:, 1:]).astype(mx.int32)
run = mx.cumprod(match, axis=1).sum(axis=1)
accepted = 1 + run
mx.eval(accepted)
acc_np = np.array(accepted)
print(f"tokens per verify step: mean {acc_np.mean():.3f} (plain decoding 1.000), "
      f"histogram {np.bincount(acc_np, minlength=N_DRAFT + 2)[1:].tolist()}")
n_params = sum(v.size for _, v in tree_flatten(heads.parameters()))
print(f"draft head parameters {n_params}, total time {time.time() - t0:.1f}s")
