"""Harbour VHF log: match a transcribed radio call-out to the vessel register.

Call-outs are token sequences: the vessel's registered name words with some
words dropped, some heard as a sound-alike word, and filler ("this is",
"over") mixed in.  One shared encoder (token + position embeddings, one
transformer layer with a padding mask, masked mean pooling, L2 norm) embeds
both call-outs and register names; loss is in-batch softmax over register
names.  Batches are drawn with replacement, so the same vessel can appear
twice in a batch: those duplicate columns are taken out of the softmax.

Schedule
- stage 1 (150 steps): token table frozen, quiet - one line per 75 steps
- stage 2 (240 steps): everything trains, cosine schedule with warm restarts
  every 80 steps; the loss can bump up after a restart
- `neg_align` is minus the mean cosine of matching pairs, so it is negative
  and should get more negative
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
N_VESSELS = 150
N_WORDS = 200
PAD = 0
SIB = N_WORDS            # word w is heard as w + SIB
FILLER0 = 2 * N_WORDS + 1
N_FILLER = 10
VOCAB = FILLER0 + N_FILLER
MAXLEN = 10
DIM = 48
BATCH = 32
STAGE1 = 150
STAGE2 = 240
PERIOD = 80
LR1 = 1e-3
LR2 = 1.5e-3

rng = np.random.default_rng(SEED)
register = [list(rng.choice(np.arange(1, N_WORDS + 1), size=rng.integers(3, 6), replace=False))
            for _ in range(N_VESSELS)]


def callout(v, r):
    words = []
    if r.random() < 0.6:
        words.append(FILLER0 + int(r.integers(N_FILLER)))
    for w in register[v]:
        u = r.random()
        if u < 0.15:
            continue
        words.append(w + SIB if u < 0.50 else w)
    if r.random() < 0.5:
        words.append(FILLER0 + int(r.integers(N_FILLER)))
    return words[:MAXLEN]


def pad(seqs):
    out = np.zeros((len(seqs), MAXLEN), dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return mx.array(out)


register_tok = pad(register)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(MAXLEN, DIM)
        self.layer = nn.TransformerEncoder(num_layers=1, dims=DIM, num_heads=4, mlp_dims=96)
        self.proj = nn.Linear(DIM, DIM)

    def __call__(self, tokens):
        keep = (tokens != PAD)
        x = self.tok(tokens) + self.pos(mx.arange(tokens.shape[1]))
        mask = mx.where(keep, 0.0, -1e9)[:, None, None, :].astype(x.dtype)
        h = self.layer(x, mask)
        w = keep.astype(h.dtype)[..., None]
        pooled = (h * w).sum(axis=1) / mx.maximum(w.sum(axis=1), 1.0)
        e = self.proj(pooled)
        return e / mx.sqrt((e * e).sum(axis=-1, keepdims=True) + 1e-8)


def loss_fn(model, q_tok, d_tok, same):
    eq = model(q_tok)
    ed = model(d_tok)
    sims = eq @ ed.T
    diag = mx.eye(sims.shape[0], dtype=mx.bool_)
    logits = mx.where(same & ~diag, -1e9, 20.0 * sims)
    loss = mx.mean(nn.losses.cross_entropy(logits, mx.arange(sims.shape[0])))
    return loss, -mx.mean(mx.diag(sims))


def evaluate(model, queries, truth):
    eq = model(pad(queries))
    ed = model(register_tok)
    sims = np.array(eq @ ed.T)
    ranks = (sims > sims[np.arange(len(truth)), truth][:, None]).sum(axis=1) + 1
    return float(np.mean(1.0 / ranks)), float(np.mean(ranks == 1))


def token_overlap_baseline(queries, truth):
    regs = [set(r) for r in register]
    rr = []
    for q, t in zip(queries, truth):
        qs = set(q)
        score = np.array([len(qs & r) / len(qs | r) for r in regs])
        rr.append(1.0 / (1 + int((score > score[t]).sum())))
    return float(np.mean(rr))


def main():
    mx.random.seed(SEED)
    model = Encoder()
    mx.eval(model.parameters())
    eval_rng = np.random.default_rng(SEED + 5)
    truth = eval_rng.integers(0, N_VESSELS, size=400)
    queries = [callout(int(v), eval_rng) for v in truth]
    base = token_overlap_baseline(queries, truth)
    mrr0, _ = evaluate(model, queries, truth)
    print(f"register {N_VESSELS} vessels, vocab {VOCAB}; eval call-outs {len(queries)}")
    print(f"token-overlap baseline MRR {base:.3f}   untrained encoder MRR {mrr0:.3f}")

    data_rng = np.random.default_rng(SEED + 6)
    step_fn = nn.value_and_grad(model, loss_fn)

    def batch():
        vs = data_rng.integers(0, N_VESSELS, size=BATCH)
        q = pad([callout(int(v), data_rng) for v in vs])
        d = register_tok[mx.array(vs)]
        same = mx.array(vs[:, None] == vs[None, :])
        return q, d, same

    t0 = time.perf_counter()
    # ---- stage 1: token table frozen ----
    model.tok.freeze()
    opt = optim.Adam(learning_rate=LR1)
    frozen_before = np.array(model.tok.weight)
    acc = []
    for step in range(1, STAGE1 + 1):
        q, d, same = batch()
        (loss, na), grads = step_fn(model, q, d, same)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        acc.append((loss.item(), na.item()))
        if step % 75 == 0:
            l, a = np.mean(acc, axis=0)
            mrr, top1 = evaluate(model, queries, truth)
            print(f"[stage 1] step {step:4d}  loss {l:.4f}  neg_align {a:+.4f}  MRR {mrr:.3f}  top1 {top1:.3f}")
            acc = []
    drift = float(np.abs(np.array(model.tok.weight) - frozen_before).max())
    print(f"stage 1 done: token table max change {drift:.1e} (frozen)")

    # ---- stage 2: all weights, cosine with warm restarts ----
    model.tok.unfreeze()
    opt = optim.Adam(learning_rate=LR2)
    for step in range(STAGE2):
        t = (step % PERIOD) / PERIOD
        opt.learning_rate = 1e-5 + (LR2 - 1e-5) * 0.5 * (1 + math.cos(math.pi * t))
        q, d, same = batch()
        (loss, na), grads = step_fn(model, q, d, same)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        acc.append((loss.item(), na.item()))
        if step % PERIOD == 0 and step > 0:
            print(f"  restart at stage-2 step {step}: lr back to {opt.learning_rate.item():.2e}")
        if (step + 1) % 40 == 0:
            l, a = np.mean(acc, axis=0)
            mrr, top1 = evaluate(model, queries, truth)
            print(f"[stage 2] step {STAGE1 + step + 1:4d}  lr {opt.learning_rate.item():.2e}  loss {l:.4f}  "
                  f"neg_align {a:+.4f}  MRR {mrr:.3f}  top1 {top1:.3f}")
            acc = []

    mrr, top1 = evaluate(model, queries, truth)
    print(f"final MRR {mrr:.3f} top1 {top1:.3f}  vs token-overlap baseline MRR {base:.3f}  "
          f"({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
