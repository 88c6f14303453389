"""Origami crease-vertex checker.

Each sample is the ring of creases around one vertex of a crease pattern:
a sequence of 4..12 tokens, each a mountain or valley fold with one of six
sector-angle bins. The label says whether the vertex satisfies Maekawa's
count (|#mountain - #valley| == 2). 10% of the training labels are flipped
(sloppy annotation), so train loss cannot go below the label-noise floor.

Model: a hand-written 2-layer post-LN transformer encoder (per-head
projections, softmax(QK^T / sqrt(d_head)) with a padding mask), masked mean
pooling and a linear head. Post-LN needs warm-up, so the learning rate ramps
from exactly 0. Training runs in two sessions: session 1 writes a checkpoint
(weights + optimizer state + step), session 2 builds a fresh model and
optimizer, loads the checkpoint and continues.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

PAD = 0
VOCAB = 1 + 2 * 6          # pad + (mountain/valley) x 6 angle bins
MAXLEN = 12
DIMS, HEADS, LAYERS = 32, 4, 2
BATCH = 32
TOTAL_STEPS = 360
SESSION1_STEPS = 180
WARMUP = 60
PEAK_LR = 3e-3
FLIP = 0.10


def make_vertices(n, rng, flip):
    toks = np.zeros((n, MAXLEN), dtype=np.int32)
    lens = np.zeros(n, dtype=np.int32)
    y = np.zeros(n, dtype=np.int32)
    for i in range(n):
        L = int(rng.integers(4, MAXLEN + 1))
        if rng.random() < 0.5:
            # Maekawa-consistent: M - V = +-2
            m = (L + 2) // 2 if rng.random() < 0.5 else (L - 2) // 2
            if (L % 2) == 1:
                L -= 1
                m = (L + 2) // 2 if rng.random() < 0.5 else (L - 2) // 2
        else:
            m = int(rng.integers(0, L + 1))
        kinds = np.array([1] * m + [0] * (L - m))
        rng.shuffle(kinds)
        angles = rng.integers(0, 6, size=L)
        toks[i, :L] = 1 + kinds * 6 + angles
        lens[i] = L
        y[i] = int(abs(m - (L - m)) == 2)
    clean = y.copy()
    if flip > 0:
        f = rng.random(n) < flip
        y[f] = 1 - y[f]
    return toks, lens, y, clean


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.dh = dims // heads
        self.q = nn.Linear(dims, dims)
        self.k = nn.Linear(dims, dims)
        self.v = nn.Linear(dims, dims)
        self.o = nn.Linear(dims, dims)

    def __call__(self, x, key_mask):
        B, T, D = x.shape
        split = lambda t: t.reshape(B, T, self.heads, self.dh).transpose(0, 2, 1, 3)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(self.dh)
        scores = mx.where(key_mask[:, None, None, :], scores, -1e9)
        w = mx.softmax(scores, axis=-1)
        out = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        return self.o(out)


class PostLNBlock(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.attn = Attention(dims, heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ff1 = nn.Linear(dims, 4 * dims)
        self.ff2 = nn.Linear(4 * dims, dims)
        self.ln2 = nn.LayerNorm(dims)

    def __call__(self, x, key_mask):
        x = self.ln1(x + self.attn(x, key_mask))
        x = self.ln2(x + self.ff2(nn.gelu(self.ff1(x))))
        return x


class VertexChecker(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIMS)
        self.pos = nn.Embedding(MAXLEN, DIMS)
        self.blocks = [PostLNBlock(DIMS, HEADS) for _ in range(LAYERS)]
        self.head = nn.Linear(DIMS, 2)

    def __call__(self, toks):
        key_mask = toks != PAD
        x = self.tok(toks) + self.pos(mx.arange(toks.shape[1]))
        for b in self.blocks:
            x = b(x, key_mask)
        m = key_mask.astype(x.dtype)[..., None]
        pooled = (x * m).sum(axis=1) / m.sum(axis=1)
        return self.head(pooled)


def loss_fn(model, toks, y):
    return nn.losses.cross_entropy(model(toks), y, reduction="mean")


def schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4)
    return optim.join_schedules([warm, decay], [WARMUP])


def evaluate(model, toks, y):
    logits = model(toks)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (logits.argmax(axis=-1) == y).astype(mx.float32).mean()
    return ce.item(), acc.item()


def run_session(model, opt, data, start, stop, rng, t0):
    tr_t, tr_y, te_t, te_y, te_clean = data
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    window = []
    n = tr_t.shape[0]
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, size=BATCH))
        loss, grads = loss_and_grad(model, tr_t[idx], tr_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        s = step + 1
        if s in (1, 2) or s % 60 == 0:
            model.eval()
            ce, acc = evaluate(model, te_t, te_y)
            _, acc_clean = evaluate(model, te_t, te_clean)
            model.train()
            lr = opt.learning_rate.item()
            print(f"| {s:4d} | {lr:9.2e} | {np.mean(window):7.4f} | {ce:7.4f} | "
                  f"{100*acc:6.2f} | {100*acc_clean:6.2f} | {time.time()-t0:5.1f} |")
            window = []


def main():
    t0 = time.time()
    mx.random.seed(7)
    rng = np.random.default_rng(11)
    tr_t, tr_l, tr_y, _ = make_vertices(4000, rng, FLIP)
    te_t, te_l, te_y, te_clean = make_vertices(600, rng, FLIP)
    data = (mx.array(tr_t), mx.array(tr_y), mx.array(te_t), mx.array(te_y), mx.array(te_clean))
    base = max(te_clean.mean(), 1 - te_clean.mean())
    print(f"vertices: train 4000 / test 600, lengths 4..{MAXLEN}, label flips {FLIP:.0%}")
    print(f"majority-class accuracy on clean test labels: {100*base:.2f}%")
    print(f"best reachable accuracy on noisy test labels: ~{100*(1-FLIP):.0f}%")

    model = VertexChecker()
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
    nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"post-LN encoder: {LAYERS} blocks, {HEADS} heads, dims {DIMS}, {nparams} params")
    print("| step |    lr     | train   | test ce | acc%   | clean% | secs  |")

    run_session(model, opt, data, 0, SESSION1_STEPS, rng, t0)

    ckpt_dir = tempfile.mkdtemp(None, "origami_ckpt_")
    wpath = os.path.join(ckpt_dir, "weights.safetensors")
    opath = os.path.join(ckpt_dir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = evaluate(model, data[2], data[3])
    print(f"-- checkpoint written at step {SESSION1_STEPS} ({ckpt_dir}); session 1 ends --")

    # session 2: new objects, state restored from disk
    model2 = VertexChecker()
    model2.load_weights(wpath)
    opt2 = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
    opt2.state = tree_unflatten(list(mx.load(opath).items()))
    model2.eval()
    after = evaluate(model2, data[2], data[3])
    model2.train()
    print(f"-- resumed: step {opt2.step.item()}, test ce {before[0]:.4f} -> {after[0]:.4f} after reload --")

    run_session(model2, opt2, data, SESSION1_STEPS, TOTAL_STEPS, rng, t0)
    model2.eval()
    ce, acc = evaluate(model2, data[2], data[3])
    _, acc_clean = evaluate(model2, data[2], data[4])
    print(f"final: test ce {ce:.4f}, acc {100*acc:.2f}% (noisy labels), "
          f"{100*acc_clean:.2f}% (clean labels) vs majority {100*base:.2f}%")


if __name__ == "__main__":
    main()
