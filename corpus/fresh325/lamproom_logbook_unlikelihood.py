"""Lighthouse keeper's logbook: a tiny windowed MLP language model over logbook words.

Stage 1 fits the model by maximum likelihood. Greedy continuations of an MLE
model fall into loops, so stage 2 keeps the MLE term and adds a sequence-level
unlikelihood term on the model's OWN greedy continuations (regenerated inside
the training loop every few steps): tokens that complete a 4-gram already seen
earlier in the same sequence are pushed down with -log(1 - p).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

WORDS = ["lamp-lit", "lamp-out", "wick-trim", "oil-fill", "lens-wipe", "fog-horn",
         "gale", "calm", "squall", "haze", "ship-east", "ship-west", "gull",
         "tide-high", "tide-low", "bell", "log-entry", "tea", "rain", "dawn"]
V = len(WORDS)
rng = np.random.default_rng(7)
mx.random.seed(7)

# Sparse Markov source: each word has 3 successors with probabilities 0.5 / 0.3 / 0.2.
succ = np.stack([rng.choice(V, size=3, replace=False) for _ in range(V)])
P = np.zeros((V, V))
for a in range(V):
    P[a, succ[a]] = [0.5, 0.3, 0.2]
ENTROPY = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))

SEQ, OPENING, CONT = 24, 6, 24


def sample_source(n, length):
    out = np.zeros((n, length), dtype=np.int32)
    out[:, 0] = rng.integers(0, V, size=n)
    for t in range(1, length):
        u = rng.random(n)[:, None]
        cdf = np.cumsum(P[out[:, t - 1]], axis=1)
        out[:, t] = (u > cdf).sum(axis=1)
    return out


def repeat_mask(seq, n=4, start=0):
    """1 where the n-gram ending at t already appeared earlier in the row (t >= start)."""
    B, L = seq.shape
    m = np.zeros((B, L), dtype=np.float32)
    for b in range(B):
        seen = set()
        for t in range(n - 1, L):
            g = tuple(seq[b, t - n + 1:t + 1])
            if g in seen and t >= start:
                m[b, t] = 1.0
            seen.add(g)
    return m


W = 6  # context window (previous words seen by the model)


def windows(x):
    """(B, L) token ids -> (B, L, W) previous-word windows, padded with the start id V."""
    B, L = x.shape
    pad = mx.concatenate([mx.full((B, W - 1), V, dtype=x.dtype), x], axis=1)
    return mx.stack([pad[:, i:i + L] for i in range(W)], axis=-1)


class KeeperLM(nn.Module):
    def __init__(self, dims=128):
        super().__init__()
        self.emb = nn.Embedding(V + 1, 16)
        self.hid = nn.Linear(16 * W, dims)
        self.out = nn.Linear(dims, V)

    def __call__(self, x):
        e = self.emb(windows(x))
        e = e.reshape(*e.shape[:2], -1)
        return self.out(nn.gelu(self.hid(e)))


def greedy_continue(model, opening, steps):
    seq = opening
    for _ in range(steps):
        logits = model(seq[:, -W:])
        tok = mx.argmax(logits[:, -1], axis=-1)
        seq = mx.concatenate([seq, tok[:, None].astype(seq.dtype)], axis=1)
    out = mx.stop_gradient(seq[:, opening.shape[1]:])
    mx.eval(out)
    return np.array(out)


def mle_loss(model, x):
    logits = model(x[:, :-1])
    return nn.losses.cross_entropy(logits, x[:, 1:], reduction="mean")


def ul_loss(model, seq, mask):
    logits = model(seq[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    lp = mx.take_along_axis(logp, seq[:, 1:, None], axis=-1)[..., 0]
    p = mx.exp(lp)
    pen = -mx.log(mx.maximum(1.0 - p, 1e-6)) * mask[:, 1:]
    return pen.sum() / mx.maximum(mask[:, 1:].sum(), 1.0)


def combined(model, x, seq, mask, alpha):
    return mle_loss(model, x) + alpha * ul_loss(model, seq, mask)


val = mx.array(sample_source(256, SEQ))
probe_opening = sample_source(64, OPENING)
data_rep = repeat_mask(sample_source(128, OPENING + CONT), start=OPENING)[:, OPENING:].mean()


def report(model, stage, step, lr, train_loss, ul):
    vl = mle_loss(model, val).item()
    cont = greedy_continue(model, mx.array(probe_opening), CONT)
    full = np.concatenate([probe_opening, cont], axis=1)
    rep = repeat_mask(full, start=OPENING)[:, OPENING:].mean()
    distinct = np.mean([len(set(r)) for r in cont])
    print(f"[keeper] stage={stage:<3} step={step:04d} lr={lr:.2e} train={train_loss:.4f} "
          f"ul={ul:.4f} val_nats={vl:.4f} (source {ENTROPY:.4f}) "
          f"greedy_rep4={rep:.3f} (source text {data_rep:.3f}) distinct={distinct:.1f}/{CONT}",
          flush=True)
    return vl, rep


t0 = time.time()
model = KeeperLM()
mx.eval(model.parameters())
print(f"[keeper] vocabulary {V} words, source entropy {ENTROPY:.4f} nats/word, "
      f"uniform {math.log(V):.4f}")

# ---- stage 1: maximum likelihood ----
S1 = 300
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 50),
                              optim.cosine_decay(3e-3, S1 - 50, 3e-4)], [50])
opt = optim.Adam(learning_rate=sched)
step_mle = nn.value_and_grad(model, mle_loss)
report(model, "mle", 0, 0.0, float("nan"), 0.0)
for step in range(1, S1 + 1):
    lr_now = opt.learning_rate.item()
    x = mx.array(sample_source(32, SEQ))
    loss, grads = step_mle(model, x)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 50) or step % 100 == 0:
        report(model, "mle", step, lr_now, loss.item(), 0.0)
vl1, rep1 = report(model, "mle", S1, opt.learning_rate.item(), loss.item(), 0.0)

# ---- stage 2: MLE + unlikelihood on self-generated greedy continuations ----
S2, ALPHA, REGEN = 150, 1.0, 15
opt2 = optim.Adam(learning_rate=1e-3)
step_ul = nn.value_and_grad(model, combined)
ul_val = 0.0
for step in range(1, S2 + 1):
    if (step - 1) % REGEN == 0:
        pre = sample_source(64, OPENING)
        cont = greedy_continue(model, mx.array(pre), CONT)
        gen = np.concatenate([pre, cont], axis=1)
        gmask = mx.array(repeat_mask(gen, start=OPENING))
        gen = mx.array(gen)
    x = mx.array(sample_source(32, SEQ))
    loss, grads = step_ul(model, x, gen, gmask, ALPHA)
    opt2.update(model, grads)
    mx.eval(model.parameters(), opt2.state, loss)
    if step % 50 == 0:
        ul_val = ul_loss(model, gen, gmask).item()
        report(model, "ul", step, 1e-3, loss.item(), ul_val)

vl2, rep2 = report(model, "ul", S2, 1e-3, loss.item(), ul_val)
print(f"[keeper] summary: val_nats {vl1:.4f} -> {vl2:.4f}, greedy_rep4 {rep1:.3f} -> {rep2:.3f}, "
      f"seconds={time.time() - t0:.1f}")
