"""Acoustic-token language model for a toy TTS back end.

A one-block causal Transformer predicts codebook-0 codec tokens frame by
frame from the aligned phoneme track and the previous tokens (teacher forcing).
Tokens are *sampled* from a known generator, so the best reachable NLL is the
generator's own entropy, printed as the floor.  The run is split in two
sessions: session 1 saves weights + optimizer state, session 2 rebuilds
everything from those files and carries on.  Session 2 logs sparsely.
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

N_TOK = 32        # codebook size
N_PH = 12         # phoneme inventory
T = 24            # frames per utterance
HOLD = 0.35       # chance a frame repeats the previous token

rng = np.random.default_rng(11)
mx.random.seed(11)

# phoneme -> token distribution: two favourite tokens + a flat tail
PH_DIST = np.full((N_PH, N_TOK), 0.15 / (N_TOK - 2))
for p in range(N_PH):
    a, b = rng.choice(N_TOK, size=2, replace=False)
    PH_DIST[p, a] += 0.60
    PH_DIST[p, b] += 0.25
PH_DIST /= PH_DIST.sum(1, keepdims=True)


def sample_utterances(n):
    ph = np.zeros((n, T), dtype=np.int32)
    tok = np.zeros((n, T), dtype=np.int32)
    nll = 0.0
    for i in range(n):
        seq = []
        while len(seq) < T:
            seq += [rng.integers(N_PH)] * int(rng.integers(2, 6))
        ph[i] = seq[:T]
        prev = None
        for t in range(T):
            p = PH_DIST[ph[i, t]].copy()
            if prev is not None:
                p = (1 - HOLD) * p
                p[prev] += HOLD
            k = rng.choice(N_TOK, p=p)
            nll -= math.log(p[k])
            tok[i, t] = k
            prev = k
    return mx.array(ph), mx.array(tok), nll / (n * T)


class TokenLM(nn.Module):
    def __init__(self, dim=48, heads=4):
        super().__init__()
        self.tok_emb = nn.Embedding(N_TOK + 1, dim)   # index N_TOK = start symbol
        self.ph_emb = nn.Embedding(N_PH, dim)
        self.pos_emb = nn.Embedding(T, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_TOK)
        self.mask = nn.MultiHeadAttention.create_additive_causal_mask(T)

    def __call__(self, ph, tok):
        start = mx.full((tok.shape[0], 1), N_TOK, dtype=tok.dtype)
        prev = mx.concatenate([start, tok[:, :-1]], axis=1)
        h = self.tok_emb(prev) + self.ph_emb(ph) + self.pos_emb(mx.arange(T))
        x = self.ln1(h)
        h = h + self.attn(x, x, x, mask=self.mask)
        h = h + self.ff(self.ln2(h))
        return self.head(self.ln_f(h))


def loss_fn(model, ph, tok):
    logits = model(ph, tok)
    return nn.losses.cross_entropy(logits, tok, reduction="mean")


def val_stats(model, ph, tok):
    logits = model(ph, tok)
    nll = nn.losses.cross_entropy(logits, tok, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, axis=-1) == tok).item()
    return nll, acc


def baselines(tr_ph, tr_tok, va_ph, va_tok):
    tr_ph_np, tr_tok_np = np.array(tr_ph), np.array(tr_tok)
    va_ph_np, va_tok_np = np.array(va_ph), np.array(va_tok)
    uni = np.bincount(tr_tok_np.ravel(), minlength=N_TOK) + 1.0
    uni /= uni.sum()
    uni_nll = -np.log(uni[va_tok_np]).mean()
    cond = np.ones((N_PH, N_TOK))
    np.add.at(cond, (tr_ph_np.ravel(), tr_tok_np.ravel()), 1.0)
    cond /= cond.sum(1, keepdims=True)
    ph_nll = -np.log(cond[va_ph_np, va_tok_np]).mean()
    ph_acc = (cond.argmax(1)[va_ph_np] == va_tok_np).mean()
    return uni_nll, ph_nll, ph_acc


def make_optimizer(total, warm, restart):
    peak = 3e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, restart - warm, 2e-4),
         optim.cosine_decay(peak * 0.5, total - restart, 1e-5)],
        [warm, restart])
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def run_session(model, opt, data, start, stop, bs, log_every, tag):
    tr_ph, tr_tok = data
    step_fn = nn.value_and_grad(model, loss_fn)
    n = tr_tok.shape[0]
    running = []
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, size=bs))
        loss, grads = step_fn(model, tr_ph[idx], tr_tok[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if (step + 1) % log_every == 0:
            lr = opt.learning_rate.item()
            print(f"[{tag}] step {step + 1:4d} lr {lr:.2e} train nll {np.mean(running):.4f}")
            running = []


def main():
    t0 = time.time()
    tr_ph, tr_tok, _ = sample_utterances(3000)
    va_ph, va_tok, floor = sample_utterances(200)
    uni_nll, ph_nll, ph_acc = baselines(tr_ph, tr_tok, va_ph, va_tok)
    print(f"data ready in {time.time() - t0:.1f}s: {tr_tok.shape[0]} train / {va_tok.shape[0]} val utterances x {T} frames")
    print(f"val references: generator floor {floor:.4f} nats | unigram {uni_nll:.4f} | "
          f"phoneme-only {ph_nll:.4f} (acc {ph_acc:.3f}) | uniform {math.log(N_TOK):.4f}")

    total, warm, restart, pause = 420, 40, 210, 180
    bs = 32
    model = TokenLM()
    mx.eval(model.parameters())
    opt = make_optimizer(total, warm, restart)
    nll, acc = val_stats(model, va_ph, va_tok)
    print(f"init val nll {nll:.4f} acc {acc:.3f}")

    run_session(model, opt, (tr_ph, tr_tok), 0, pause, bs, 20, "session 1")
    nll_before, acc_before = val_stats(model, va_ph, va_tok)
    print(f"[session 1] val nll {nll_before:.4f} acc {acc_before:.3f}")

    with tempfile.TemporaryDirectory() as ckpt:
        model.save_weights(os.path.join(ckpt, "weights.safetensors"))
        mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {pause}: "
              f"{sorted(os.listdir(ckpt))}")
        del model, opt

        model = TokenLM()
        model.load_weights(os.path.join(ckpt, "weights.safetensors"))
        opt = make_optimizer(total, warm, restart)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)

    nll_after, _ = val_stats(model, va_ph, va_tok)
    print(f"[session 2] resumed at optimizer step {opt.step.item()}, val nll {nll_after:.4f} "
          f"(before save {nll_before:.4f}); lr restarts at step {restart}")
    run_session(model, opt, (tr_ph, tr_tok), pause, total, bs, 120, "session 2")

    nll, acc = val_stats(model, va_ph, va_tok)
    print(f"final val nll {nll:.4f} (floor {floor:.4f}, phoneme-only {ph_nll:.4f}, unigram {uni_nll:.4f}) "
          f"acc {acc:.3f} (phoneme-only {ph_acc:.3f})")
    print(f"gap to floor {nll - floor:+.4f} nats; done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
