"""Flattened (interleaved) codec-token LM with a checkpoint / resume cycle.

Three residual codebooks of a synthetic wind-instrument codec (8 codes each)
are braided frame by frame into one token stream  c0_t c1_t c2_t c0_t+1 ...
with per-codebook id offsets, and a GRU predicts the next token.

The run is split the way a long job on a shared machine is split: phase A
trains, writes a checkpoint (weights, optimizer moments, schedule step, data
order), everything is thrown away, phase B rebuilds from the files and goes
on.  The learning-rate schedule is a warm restart (SGDR): it climbs from
exactly 0, decays by cosine, and restarts at a higher rate right where phase
B begins.  Phase B only reports every 80 steps.
"""

import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

K, V, T = 3, 8, 10
NTOK = K * V
BOS = NTOK
L = K * T
BATCH = 24
PHASE_A = 200
TOTAL = 360

gen = np.random.default_rng(21)
A0 = gen.normal(size=(V, V)) * 2.0
UP = [None] + [gen.normal(size=(V, V)) * 1.8 for _ in range(1, K)]
OWN = [None] + [gen.normal(size=(V, V)) * 0.8 for _ in range(1, K)]


def softmax_rows(lg):
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def draw(p, rng):
    u = rng.random((p.shape[0], 1))
    return (p.cumsum(axis=1) < u).sum(axis=1).clip(0, V - 1)


def make_clips(n, rng):
    codes = np.zeros((n, T, K), dtype=np.int64)
    logp = np.zeros((n, T, K))
    rows = np.arange(n)
    for t in range(T):
        p = softmax_rows(A0[codes[:, t - 1, 0]]) if t else np.full((n, V), 1.0 / V)
        codes[:, t, 0] = draw(p, rng)
        logp[:, t, 0] = np.log(p[rows, codes[:, t, 0]])
        for k in range(1, K):
            own = codes[:, t - 1, k] if t else np.zeros(n, dtype=np.int64)
            p = softmax_rows(UP[k][codes[:, t, k - 1]] + OWN[k][own])
            codes[:, t, k] = draw(p, rng)
            logp[:, t, k] = np.log(p[rows, codes[:, t, k]])
    flat = (codes + np.arange(K) * V).reshape(n, L)       # braid with offsets
    return flat, logp


tr_flat, _ = make_clips(5000, gen)
va_flat, va_logp = make_clips(600, gen)
floor = float(-va_logp.mean())
counts = np.bincount(tr_flat.ravel(), minlength=NTOK) + 1.0
slot_of = np.arange(NTOK) // V
uni = counts / np.array([counts[slot_of == s].sum() for s in slot_of])
unigram = float(-np.log(uni[va_flat]).mean())


def to_xy(flat):
    x = np.concatenate([np.full((flat.shape[0], 1), BOS), flat[:, :-1]], axis=1)
    return mx.array(x), mx.array(flat)


tr_x, tr_y = to_xy(tr_flat)
va_x, va_y = to_xy(va_flat)


class BraidGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(NTOK + 1, 32)
        self.rnn = nn.GRU(32, 64)
        self.out = nn.Linear(64, NTOK)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 20),
     optim.cosine_decay(4e-3, PHASE_A - 20, 1e-4),
     optim.cosine_decay(2e-3, TOTAL - PHASE_A, 5e-5)],
    [20, PHASE_A],
)


def build():
    model = BraidGRU()
    opt = optim.Adam(learning_rate=schedule)
    return model, opt


def make_step(model, opt):
    lg = nn.value_and_grad(model, loss_fn)

    def step(x, y):
        loss, grads = lg(model, x, y)
        grads, gn = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss, gn
    return step


def val_nll(model):
    v = loss_fn(model, va_x, va_y)
    mx.eval(v)
    return v.item()


print(f"{K} codebooks x {V} codes braided into {L} tokens; floor {floor:.3f} nats/token, "
      f"slot-unigram baseline {unigram:.3f}")
mx.random.seed(5)
model, opt = build()
mx.eval(model.parameters())
step = make_step(model, opt)
order = np.random.default_rng(99)
t0 = time.time()

for it in range(PHASE_A):
    idx = mx.array(order.integers(0, tr_x.shape[0], size=BATCH))
    loss, gn = step(tr_x[idx], tr_y[idx])
    mx.eval(model.parameters(), opt.state, loss)
    if it in (0, 1) or (it + 1) % 40 == 0:
        v = val_nll(model)
        print(f"A step {it + 1:3d}  lr {opt.learning_rate.item():.2e}  train {loss.item():.4f}  "
              f"val {v:.4f}  gain vs unigram {unigram - v:+.3f}  |g| {gn.item():.2f}")

ckpt = tempfile.mkdtemp("_braid_ckpt")
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "progress.json"), "w") as f:
    json.dump({"step": PHASE_A, "order": order.bit_generator.state}, f)
v_saved = val_nll(model)
print(f"checkpoint written at step {PHASE_A} ({len(os.listdir(ckpt))} files), val {v_saved:.4f}")
del model, opt, step, order

model, opt = build()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
with open(os.path.join(ckpt, "progress.json")) as f:
    prog = json.load(f)
order = np.random.default_rng()
order.bit_generator.state = prog["order"]
step = make_step(model, opt)
v_loaded = val_nll(model)
print(f"resumed at step {opt.step.item()}  val {v_loaded:.4f}  (diff vs saved {abs(v_loaded - v_saved):.1e})")

for it in range(prog["step"], TOTAL):
    idx = mx.array(order.integers(0, tr_x.shape[0], size=BATCH))
    loss, gn = step(tr_x[idx], tr_y[idx])
    mx.eval(model.parameters(), opt.state, loss)
    if (it + 1) % 80 == 0 or it + 1 == TOTAL:
        v = val_nll(model)
        print(f"B step {it + 1:3d}  lr {opt.learning_rate.item():.2e}  train {loss.item():.4f}  "
              f"val {v:.4f}  gain vs unigram {unigram - v:+.3f}  |g| {gn.item():.2f}")

v = val_nll(model)
for name in os.listdir(ckpt):
    os.remove(os.path.join(ckpt, name))
os.rmdir(ckpt)
print(f"final val {v:.4f}  floor {floor:.4f}  gap {v - floor:+.4f}  unigram {unigram:.4f}  "
      f"time {time.time() - t0:.1f}s")
