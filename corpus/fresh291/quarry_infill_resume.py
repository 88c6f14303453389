"""Masked-token infilling on a synthetic Markov chain with a tiny
bidirectional transformer, trained in two stages with a checkpoint in
between.

Stage 1 masks 15% of the tokens, stage 2 masks 45%. Between the stages
the run writes weights and optimizer state to disk, throws the objects
away and rebuilds everything from the files, as a resumed job would.
"""
import shutil
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

V = 10
MASK_ID = V
T = 16
D = 32
HEADS = 2
BATCH = 32
STAGE1 = 200
STAGE2 = 200

rng = np.random.default_rng(11)
mx.random.seed(11)

# sparse-ish random transition matrix
P = rng.dirichlet(np.full(V, 0.3), size=V)
evals, evecs = np.linalg.eig(P.T)
pi = np.real(evecs[:, np.argmin(np.abs(evals - 1))])
pi = pi / pi.sum()
H_unigram = float(-(pi * np.log(pi)).sum())
H_left = float(-(pi[:, None] * P * np.log(P + 1e-12)).sum())


def sample_chains(n):
    out = np.empty((n, T), dtype=np.int64)
    out[:, 0] = rng.choice(V, size=n, p=pi)
    cdf = np.cumsum(P, axis=1)
    for t in range(1, T):
        u = rng.random(n)
        out[:, t] = (u[:, None] > cdf[out[:, t - 1]]).sum(axis=1)
    return np.minimum(out, V - 1)


def mask_batch(seq, rate):
    m = rng.random(seq.shape) < rate
    m[np.arange(len(seq)), rng.integers(0, T, len(seq))] = True  # >= 1 per row
    inp = np.where(m, MASK_ID, seq)
    return mx.array(inp.astype(np.int32)), mx.array(seq.astype(np.int32)), mx.array(m.astype(np.float32))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiHeadAttention(D, HEADS)
        self.ln2 = nn.LayerNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h)
        return x + self.ff(self.ln2(x))


class Infiller(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V + 1, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = [Block()]
        self.ln = nn.LayerNorm(D)
        self.out = nn.Linear(D, V)

    def __call__(self, tokens):
        x = self.tok(tokens) + self.pos(mx.arange(tokens.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.out(self.ln(x))


def masked_ce(model, inp, tgt, m):
    ce = nn.losses.cross_entropy(model(inp), tgt, reduction="none")
    return (ce * m).sum() / m.sum()


def masked_acc(model, inp, tgt, m):
    hit = (mx.argmax(model(inp), axis=-1) == tgt).astype(mx.float32)
    return (hit * m).sum() / m.sum()


def build():
    model = Infiller()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    mx.eval(model.parameters())
    return model, opt


def run_stage(model, opt, steps, rate, first_step, log_every, val):
    lg = nn.value_and_grad(model, masked_ce)
    window = []
    for i in range(steps):
        inp, tgt, m = mask_batch(sample_chains(BATCH), rate)
        loss, grads = lg(model, inp, tgt, m)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step = first_step + i + 1
        if log_every and (step % log_every == 0):
            vl = masked_ce(model, *val).item()
            va = masked_acc(model, *val).item()
            print(f"step={step} mask_rate={rate:.2f} train_ce={np.mean(window):.4f} "
                  f"val_ce={vl:.4f} val_acc={va:.3f}")
            window = []
    return first_step + steps


print(f"chain: V={V} T={T}; unigram entropy {H_unigram:.4f} nats, "
      f"left-neighbour entropy {H_left:.4f} nats (both-side context can beat it)")
val15 = mask_batch(sample_chains(128), 0.15)
val45 = mask_batch(sample_chains(128), 0.45)

t0 = time.time()
model, opt = build()
print(f"stage 1: mask 15%, {STAGE1} steps, quiet until the stage ends")
step = run_stage(model, opt, STAGE1, 0.15, 0, 0, val15)
print(f"stage 1 done at step={step}: val_ce={masked_ce(model, *val15).item():.4f} "
      f"val_acc={masked_acc(model, *val15).item():.3f} elapsed={time.time() - t0:.1f}s")

ckpt = tempfile.mkdtemp(prefix="infill_ckpt_")
wpath = os.path.join(ckpt, "weights.safetensors")
opath = os.path.join(ckpt, "optimizer.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
saved = dict(tree_flatten(model.parameters()))
del model, opt

model, opt = build()
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
drift = max(float(mx.abs(saved[k] - v).max()) for k, v in tree_flatten(model.parameters()))
print(f"resumed from {os.path.basename(ckpt)}: optimizer step={int(opt.state['step'].item())} "
      f"max weight diff={drift:.1e}")

print(f"stage 2: mask 45%, {STAGE2} steps (harder task, the loss starts higher)")
print(f"step={step} mask_rate=0.45 val_ce={masked_ce(model, *val45).item():.4f} "
      f"val_acc={masked_acc(model, *val45).item():.3f} (before any stage-2 update)")
step = run_stage(model, opt, STAGE2, 0.45, step, 40, val45)

print(f"final: val_ce@15%={masked_ce(model, *val15).item():.4f} "
      f"val_ce@45%={masked_ce(model, *val45).item():.4f} "
      f"unigram={H_unigram:.4f} left-neighbour={H_left:.4f} "
      f"time={time.time() - t0:.1f}s")
shutil.rmtree(ckpt)
