"""Train a small EAGLE-style draft head next to a tiny target LM.

Stage 1 fits the target LM on a synthetic Markov corpus.
Stage 2 precomputes the target's last hidden states and trains the draft
(input_proj + one decoder block + norm) that borrows the target's
embedding and lm_head, then reports speculative acceptance.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB = 48
HIDDEN = 32
SEQ = 16
rng = np.random.default_rng(7)

# ---- synthetic corpus: sparse first-order Markov chain ------------------
trans = np.full((VOCAB, VOCAB), 0.02 / VOCAB)
for a in range(VOCAB):
    succ = rng.choice(VOCAB, size=2, replace=False)
    trans[a, succ[0]] += 0.78
    trans[a, succ[1]] += 0.20
trans /= trans.sum(axis=1, keepdims=True)


def sample_batch(n, gen):
    out = np.zeros((n, SEQ), dtype=np.int32)
    out[:, 0] = gen.integers(0, VOCAB, size=n)
    for t in range(1, SEQ):
        cum = trans[out[:, t - 1]].cumsum(axis=1)
        u = gen.random((n, 1))
        out[:, t] = (u > cum).sum(axis=1).clip(0, VOCAB - 1)
    return mx.array(out)


class Block(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.ln1 = nn.RMSNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.blocks = [Block(HIDDEN), Block(HIDDEN)]
        self.norm = nn.RMSNorm(HIDDEN)
        self.lm_head = nn.Linear(HIDDEN, VOCAB, bias=False)

    def hidden(self, ids):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(ids.shape[1])
        x = self.embed_tokens(ids)
        for b in self.blocks:
            x = b(x, mask)
        return self.norm(x)

    def __call__(self, ids):
        return self.lm_head(self.hidden(ids))


class DraftHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_proj = nn.Linear(2 * HIDDEN, HIDDEN, bias=False)
        self.layers = [Block(HIDDEN)]
        self.norm = nn.RMSNorm(HIDDEN)
        self.embed_tokens = None
        self.lm_head = None

    def bind(self, target):
        self.embed_tokens = target.embed_tokens
        self.lm_head = target.lm_head

    def __call__(self, token_ids, h_prev):
        emb = self.embed_tokens(token_ids)
        x = self.input_proj(mx.concatenate([h_prev, emb], axis=-1))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        for layer in self.layers:
            x = layer(x, mask)
        h_new = self.norm(x)
        return self.lm_head(h_new), h_new


def lm_loss(model, ids):
    logits = model(ids[:, :-1])
    return nn.losses.cross_entropy(logits, ids[:, 1:], reduction="mean")


def draft_loss(draft, hidden, ids):
    logits, _ = draft(ids[:, :-1], hidden[:, :-1, :])
    return nn.losses.cross_entropy(logits, ids[:, 1:], reduction="mean")


def cosine_lr(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / max(warmup, 1)
    p = (step - warmup) / max(total - warmup, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def evaluate(target, draft, ids):
    h = target.hidden(ids)
    t_logits = target.lm_head(h)
    t_loss = nn.losses.cross_entropy(t_logits[:, :-1], ids[:, 1:], reduction="mean")
    t_next = mx.argmax(t_logits[:, :-1], axis=-1)
    d_logits, _ = draft(ids[:, :-1], h[:, :-1, :])
    d_next = mx.argmax(d_logits, axis=-1)
    accept = mx.mean(d_next == t_next)
    return t_loss.item(), accept.item()


def main():
    t0 = time.time()
    mx.random.seed(0)
    gen = np.random.default_rng(11)
    val_ids = sample_batch(128, np.random.default_rng(99))

    # ---- stage 1: target LM --------------------------------------------
    target = TinyLM()
    opt_t = optim.Adam(learning_rate=3e-3)
    step_t = nn.value_and_grad(target, lm_loss)
    for it in range(1, 201):
        ids = sample_batch(32, gen)
        loss, grads = step_t(target, ids)
        opt_t.update(target, grads)
        mx.eval(target.parameters(), opt_t.state)
        if it % 100 == 0:
            print(f"[target] step {it:4d}  loss {loss.item():.4f}")
    val_t = lm_loss(target, val_ids).item()
    print(f"[target] val loss {val_t:.4f}  (entropy floor ~{-(trans * np.log(trans)).sum(1).mean():.4f})")

    # ---- stage 2: precompute shards ------------------------------------
    shards = []
    for _ in range(12):
        ids = sample_batch(32, gen)
        h = target.hidden(ids)
        mx.eval(h)
        shards.append((ids, h))
    print(f"[precompute] {len(shards)} shards x 32 seqs, hidden {HIDDEN}")

    # ---- stage 3: draft ---------------------------------------------------
    draft = DraftHead()
    draft.bind(target)
    n_params = sum(v.size for _, v in tree_flatten(draft.trainable_parameters()))
    print(f"[draft] trainable params {n_params}")
    tl, acc = evaluate(target, draft, val_ids)
    print(f"[draft] before training: target val {tl:.4f}  accept {acc:.3f}")

    total, warmup, peak = 240, 20, 3e-3
    opt_d = optim.AdamW(learning_rate=peak, weight_decay=0.01)
    step_d = nn.value_and_grad(draft, draft_loss)
    for it in range(total):
        opt_d.learning_rate = cosine_lr(it, total, peak, warmup)
        ids, h = shards[it % len(shards)]
        loss, grads = step_d(draft, h, ids)
        opt_d.update(draft, grads)
        mx.eval(draft.parameters(), opt_d.state)
        if (it + 1) % 40 == 0:
            tl, acc = evaluate(target, draft, val_ids)
            print(f"[draft] step {it + 1:4d}  lr {cosine_lr(it, total, peak, warmup):.2e}  "
                  f"loss {loss.item():.4f}  target val {tl:.4f}  accept {acc:.3f}")

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "draft.safetensors")
        mx.save_safetensors(path, dict(tree_flatten(draft.parameters())))
        size_kb = os.path.getsize(path) / 1024
    tl, acc = evaluate(target, draft, val_ids)
    print(f"[final] target val {tl:.4f}  accept {acc:.3f}  checkpoint {size_kb:.1f} KB  "
          f"time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
