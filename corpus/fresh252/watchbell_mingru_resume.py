"""Ship's-bell log language model.

A deck officer's bell log is a stream of 6 symbols (single strike, double strike,
fog gong, watch change, helm order, all-quiet). The log follows an order-2 habit:
what comes next depends on the last two entries. We fit a small minGRU language
model (log-space parallel scan) and compare it with the exact entropy rate of the
source and with unigram / bigram baselines.

The run is split in two sessions: after session 1 the weights and the optimizer
state are written to disk, a fresh model and optimizer are built, the files are
loaded back and session 2 continues the same schedule.
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

V = 6
SEQ = 32
BATCH = 32
DIM = 32
STEPS_TOTAL = 300
STEPS_SESSION1 = 150
PEAK_LR = 6e-3
WARMUP = 50

rng = np.random.default_rng(7)
# order-2 transition table P[a, b, :] = p(next | prev2=a, prev1=b)
P = rng.dirichlet(np.full(V, 0.35), size=(V, V)).astype(np.float64)


def stationary_pairs(P):
    # Markov chain on pairs (a, b) -> (b, c)
    S = V * V
    T = np.zeros((S, S))
    for a in range(V):
        for b in range(V):
            for c in range(V):
                T[a * V + b, b * V + c] = P[a, b, c]
    pi = np.full(S, 1.0 / S)
    for _ in range(2000):
        pi = pi @ T
    return pi.reshape(V, V)


PI2 = stationary_pairs(P)
ENTROPY_FLOOR = float(-(PI2[:, :, None] * P * np.log(P + 1e-300)).sum())


def sample(n, length, rng):
    out = np.zeros((n, length), dtype=np.int32)
    flat = PI2.reshape(-1)
    start = rng.choice(V * V, size=n, p=flat / flat.sum())
    out[:, 0] = start // V
    out[:, 1] = start % V
    for t in range(2, length):
        probs = P[out[:, t - 2], out[:, t - 1]]
        cum = probs.cumsum(axis=1)
        u = rng.random((n, 1))
        out[:, t] = (u > cum).sum(axis=1).clip(0, V - 1)
    return out


train_tokens = sample(2048, SEQ + 1, rng)
val_tokens = sample(256, SEQ + 1, rng)

# baselines estimated on the training stream, scored on validation targets
uni = np.bincount(train_tokens[:, 1:].ravel(), minlength=V) + 1.0
uni = uni / uni.sum()
big = np.ones((V, V))
for row in train_tokens:
    np.add.at(big, (row[:-1], row[1:]), 1.0)
big = big / big.sum(axis=1, keepdims=True)
vt = val_tokens
UNIGRAM_CE = float(-np.log(uni[vt[:, 1:]]).mean())
BIGRAM_CE = float(-np.log(big[vt[:, :-1], vt[:, 1:]]).mean())


def log_g(x):
    return mx.where(x >= 0, mx.log(mx.maximum(x, 0) + 0.5), -nn.softplus(-x))


class MinGRU(nn.Module):
    def __init__(self, dim, expansion=1.5):
        super().__init__()
        inner = int(dim * expansion)
        self.to_hidden_and_gate = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def __call__(self, x):
        hidden, gate = mx.split(self.to_hidden_and_gate(x), 2, axis=-1)
        log_coeffs = -nn.softplus(gate)
        log_z = -nn.softplus(-gate)
        log_values = log_z + log_g(hidden)
        a_star = mx.cumsum(log_coeffs, axis=1)
        log_h = a_star + mx.logcumsumexp(log_values - a_star, axis=1)
        return self.to_out(mx.exp(log_h))


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.n1 = nn.RMSNorm(dim)
        self.rnn = MinGRU(dim)
        self.n2 = nn.RMSNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x):
        x = x + self.rnn(self.n1(x))
        return x + self.ff(self.n2(x))


class BellLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, DIM)
        self.blocks = [Block(DIM), Block(DIM)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, V)

    def __call__(self, tok):
        x = self.embed(tok)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


def loss_fn(model, tok):
    logits = model(tok[:, :-1])
    return nn.losses.cross_entropy(logits, tok[:, 1:], reduction="mean")


def schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, STEPS_TOTAL - WARMUP, 1e-4)
    return optim.join_schedules([warm, decay], [WARMUP])


def build():
    m = BellLM()
    mx.eval(m.parameters())
    o = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
    return m, o


def val_ce(model):
    return loss_fn(model, mx.array(val_tokens)).item()


def run_session(model, opt, start, stop, batch_rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    run = 0.0
    for step in range(start, stop):
        idx = batch_rng.integers(0, train_tokens.shape[0], size=BATCH)
        loss, grads = step_fn(model, mx.array(train_tokens[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if (step + 1) % 50 == 0:
            lr = opt.learning_rate.item()
            print(f"step {step + 1:4d}  train_ce {run / 50:.4f}  val_ce {val_ce(model):.4f}  lr {lr:.2e}")
            run = 0.0


t0 = time.time()
mx.random.seed(0)
print(f"entropy floor {ENTROPY_FLOOR:.4f} nats | unigram baseline {UNIGRAM_CE:.4f} | bigram baseline {BIGRAM_CE:.4f}")
model, opt = build()
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"params {nparams}")
print(f"step    0  val_ce {val_ce(model):.4f}  lr {opt.learning_rate.item():.2e}")
batch_rng = np.random.default_rng(123)
print("session 1")
run_session(model, opt, 0, STEPS_SESSION1, batch_rng)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "weights.safetensors")
opath = os.path.join(ckdir, "optimizer.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = val_ce(model)
print(f"checkpoint written  val_ce {before:.4f}")
del model, opt

model, opt = build()
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
after = val_ce(model)
print(f"resumed at step {int(opt.state['step'].item())}  val_ce {after:.4f}  lr {opt.learning_rate.item():.2e}")
print("session 2")
run_session(model, opt, STEPS_SESSION1, STEPS_TOTAL, batch_rng)

final = val_ce(model)
print(f"final val_ce {final:.4f}  gap to floor {final - ENTROPY_FLOOR:+.4f}  "
      f"vs bigram {final - BIGRAM_CE:+.4f}  vs unigram {final - UNIGRAM_CE:+.4f}")
print(f"time {time.time() - t0:.1f}s")
