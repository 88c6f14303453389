"""Hand-loom pattern book: masked (absorbing-state) diffusion over draft rows.

A draft row is 16 thread symbols from a 6-colour palette, built from a
4-thread motif laid out point-twill style: motif, mirrored motif, motif,
mirrored motif.  Neighbouring threads in a motif never repeat a colour.
Training and held-out rows use disjoint motifs.

Model: small bidirectional transformer denoiser, continuous-time masked
diffusion objective (linear schedule alpha_t = 1 - t, ELBO weight 1/t,
stratified t per batch).  Rows are drawn by ancestral unmasking.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 3
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

PALETTE = "RGBYKW"  # red, green, blue, yellow, black, white
V, MASK, L = len(PALETTE), len(PALETTE), 16


def all_motifs():
    out = []
    for a in range(V):
        for b in range(V):
            for c in range(V):
                for d in range(V):
                    if a != b and b != c and c != d:
                        out.append((a, b, c, d))
    return out


def row_of(m):
    m = list(m)
    return m + m[::-1] + m + m[::-1]


def is_valid(r):
    m = list(r[:4])
    if any(m[i] == m[i + 1] for i in range(3)):
        return False
    return list(r) == row_of(m)


motifs = all_motifs()
perm = rng.permutation(len(motifs))
held_motifs = [motifs[i] for i in perm[:150]]
train_motifs = [motifs[i] for i in perm[150:]]
train_rows = np.array([row_of(m) for m in train_motifs], dtype=np.int32)
held_rows = np.array([row_of(m) for m in held_motifs], dtype=np.int32)
train_set = {tuple(m) for m in train_motifs}

BITS_UNIFORM = math.log2(V)
BITS_FLOOR = math.log2(len(motifs)) / L  # entropy of the row distribution per thread


class Denoiser(nn.Module):
    def __init__(self, dims=32, heads=4, layers=1):
        super().__init__()
        self.tok = nn.Embedding(V + 1, dims)
        self.pos = nn.Embedding(L, dims)
        self.body = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, V)

    def __call__(self, z):
        h = self.tok(z) + self.pos(mx.arange(L))[None]
        return self.head(self.body(h, None))


def corrupt(x, t, key=None):
    u = mx.random.uniform(shape=x.shape, key=key)
    masked = u < t[:, None]
    return mx.where(masked, MASK, x), masked


def nelbo(model, x, t, key=None):
    """Per-row negative ELBO (nats / thread) of the masked-diffusion model."""
    z, masked = corrupt(x, t, key)
    logits = model(z)
    ce = nn.losses.cross_entropy(logits, x, reduction="none")
    w = masked.astype(mx.float32) / t[:, None]
    return (ce * w).sum(axis=1) / L


def loss_fn(model, x):
    b = x.shape[0]
    u0 = mx.random.uniform(shape=(1,))
    t = mx.remainder(u0 + mx.arange(b) / b, 1.0)  # stratified across the batch
    t = mx.maximum(t, 1e-3)
    per = nelbo(model, x, t)
    return per.mean(), t


EVAL_T = mx.array(((np.arange(12) + 0.5) / 12).astype(np.float32))
EVAL_KEYS = mx.random.split(mx.random.key(77), 12)


def heldout_bits(model, rows):
    x = mx.array(rows)
    tot = mx.zeros((x.shape[0],))
    for i in range(EVAL_T.shape[0]):  # midpoint rule over t in (0, 1)
        t = mx.full((x.shape[0],), EVAL_T[i].item())
        tot = tot + nelbo(model, x, t, key=EVAL_KEYS[i])
    v = (tot / EVAL_T.shape[0]).mean()
    mx.eval(v)
    return float(v) / math.log(2)


def draw_rows(model, n, key, steps=16):
    z = mx.full((n, L), MASK, dtype=mx.int32)
    keys = mx.random.split(key, 2 * steps)
    for k in range(steps):
        t, s = 1.0 - k / steps, 1.0 - (k + 1) / steps
        logits = model(z)
        pick = mx.random.categorical(logits, key=keys[2 * k]).astype(mx.int32)
        reveal = mx.random.uniform(shape=z.shape, key=keys[2 * k + 1]) < (t - s) / t
        z = mx.where((z == MASK) & reveal, pick, z)
    mx.eval(z)
    return np.array(z)


def row_quality(rows):
    ok = [is_valid(r) for r in rows]
    valid = 100.0 * np.mean(ok)
    novel = [tuple(r[:4]) not in train_set for r, g in zip(rows, ok) if g]
    return valid, (100.0 * np.mean(novel) if novel else 0.0)


model = Denoiser()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

BATCH, STEPS, EVERY = 64, 800, 160
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-2)
lg = nn.value_and_grad(model, loss_fn)


def emit(doc):
    print("---")
    for k, v in doc.items():
        print(f"{k}: {v}")


emit({"event": "start", "train_rows": len(train_rows), "held_rows": len(held_rows),
      "params": n_params, "bits_uniform": f"{BITS_UNIFORM:.3f}",
      "bits_floor": f"{BITS_FLOOR:.3f}"})

best, waited, halvings = float("inf"), 0, 0
window = []
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(train_rows), BATCH)
    (loss, tb), grads = lg(model, mx.array(train_rows[idx]))
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        emit({"event": "grad_check", "leaves": len(flat), "zero_leaves": zero or "none"})
    opt.update(model, grads)
    mx.eval(loss, model.parameters(), opt.state)
    window.append(float(loss))
    if step % EVERY == 0:
        hb = heldout_bits(model, held_rows[:100])
        tb_ = heldout_bits(model, train_rows[:100])
        sampled = draw_rows(model, 100, mx.random.key(1000 + step))
        valid, novel = row_quality(sampled)
        if hb < best - 1e-3:
            best, waited, mark = hb, 0, "improved"
        else:
            waited += 1
            mark = f"no gain ({waited}/2)"
            if waited >= 2:
                opt.learning_rate = opt.learning_rate * 0.5
                halvings += 1
                waited = 0
                mark += ", lr halved"
        emit({"event": "report", "step": step,
              "lr": f"{float(opt.learning_rate):.2e}",
              "train_nelbo_nats_median": f"{np.median(window):.4f}",
              "train_nelbo_nats_max": f"{np.max(window):.4f}",
              "heldout_bits_per_thread": f"{hb:.4f}",
              "train_bits_per_thread": f"{tb_:.4f}",
              "valid_rows_pct": f"{valid:.1f}",
              "novel_motif_pct": f"{novel:.1f}",
              "plateau": mark,
              "secs": f"{time.time() - t0:.1f}"})
        window.clear()

final = draw_rows(model, 200, mx.random.key(4242))
valid, novel = row_quality(final)
emit({"event": "done", "heldout_bits_per_thread": f"{heldout_bits(model, held_rows[:100]):.4f}",
      "bits_floor": f"{BITS_FLOOR:.3f}", "valid_rows_pct": f"{valid:.1f}",
      "novel_motif_pct": f"{novel:.1f}", "lr_halvings": halvings,
      "example": "".join(PALETTE[c] for c in final[0]),
      "secs": f"{time.time() - t0:.1f}"})
