"""Tiny character language model for knitting-pattern row instructions.

One causal self-attention block over 32-character windows; the positional table is a
fixed sinusoidal array frozen on purpose.  The learning rate follows the
"Noam" schedule: linear warm-up from exactly 0, then inverse square root.
Loss is reported in bits per character (lower is better).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CTX = 24
BATCH = 32
STEPS = 600
WARMUP = 100
D_MODEL = 32
PEAK_LR = 4e-3
REPORT_EVERY = 100


def knit_row(rng, row_no):
    stitches = ["k1", "k2", "k3", "p1", "p2", "p3", "yo", "k2tog", "ssk", "sl1"]
    n = rng.integers(2, 5)
    body = ", ".join(rng.choice(stitches) for _ in range(n))
    form = rng.integers(0, 3)
    if form == 0:
        text = f"{body}, rep to end"
    elif form == 1:
        text = f"*{body}* x{rng.integers(2, 7)}, k{rng.integers(1, 4)}"
    else:
        text = f"{body}, turn"
    side = "RS" if row_no % 2 == 1 else "WS"
    return f"R{row_no} ({side}): {text}.\n"


def make_text(n_patterns, rng):
    parts = []
    for _ in range(n_patterns):
        parts.append(f"Cast on {rng.integers(2, 9) * 8} sts.\n")
        for r in range(1, rng.integers(3, 9)):
            parts.append(knit_row(rng, r))
        parts.append("Bind off.\n")
    return "".join(parts)


class CharLM(nn.Module):
    def __init__(self, vocab, d=D_MODEL):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        pos = np.arange(CTX)[:, None] / np.power(10000.0, np.arange(0, d, 2)[None] / d)
        table = np.zeros((CTX, d), dtype=np.float32)
        table[:, 0::2], table[:, 1::2] = np.sin(pos), np.cos(pos)
        self.pos = mx.array(table)
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.ln_f = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab)

    def __call__(self, ids):
        L = ids.shape[1]
        h = self.tok(ids) + self.pos[:L]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        a = self.ln1(h)
        h = h + self.attn(a, a, a, mask=mask)
        h = h + self.mlp(self.ln2(h))
        return self.out(self.ln_f(h))


def noam(step):
    s = step.astype(mx.float32)
    return PEAK_LR * mx.minimum(s / WARMUP, mx.rsqrt(mx.maximum(s, 1.0) / WARMUP))


def windows(data, starts):
    idx = starts[:, None] + np.arange(CTX + 1)[None]
    chunk = data[idx]
    return mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    train_text = make_text(400, rng)
    val_text = make_text(40, rng)
    chars = sorted(set(train_text) | set(val_text))
    stoi = {c: i for i, c in enumerate(chars)}
    train = np.array([stoi[c] for c in train_text], dtype=np.int32)
    val = np.array([stoi[c] for c in val_text], dtype=np.int32)
    counts = np.bincount(train, minlength=len(chars)) + 1
    p = counts / counts.sum()
    unigram_bpc = float(-(p * np.log2(p)).sum())

    model = CharLM(len(chars))
    model.freeze(keys=["pos"])
    mx.eval(model.parameters())
    pos_before = np.array(model.pos)
    opt = optim.AdamW(learning_rate=noam, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    # eager look at the very first gradient before compiling the step
    x0, y0 = windows(train, rng.integers(0, len(train) - CTX - 1, size=BATCH))
    _, g0 = loss_and_grad(model, x0, y0)
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
    print(f"corpus: {len(train_text)} train chars, {len(val_text)} val chars, vocab {len(chars)}; "
          f"unigram entropy {unigram_bpc:.3f} bits/char")
    print(f"gradient check: {len(flat)} trainable arrays, zero-gradient arrays: {zero or 'none'}; "
          f"positional table in gradients: {'pos' in dict(flat)}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    val_starts = np.arange(0, len(val) - CTX - 1, CTX)

    def val_bpc():
        tot, n = 0.0, 0
        for i in range(0, len(val_starts), 256):
            x, y = windows(val, val_starts[i:i + 256])
            ce = nn.losses.cross_entropy(model(x), y, reduction="sum")
            tot += ce.item()
            n += y.size
        return tot / n / math.log(2)

    print(f"{'step':>5} {'lr':>9} {'train bpc':>10} {'val bpc':>8} {'secs':>6}")
    print(f"{0:>5} {0.0:>9.2e} {'-':>10} {val_bpc():>8.3f} {0.0:>6.1f}")
    t0 = time.perf_counter()
    window = []
    for it in range(1, STEPS + 1):
        lr_used = opt.learning_rate.item()
        x, y = windows(train, rng.integers(0, len(train) - CTX - 1, size=BATCH))
        loss = step(x, y)
        mx.eval(loss, state)
        window.append(loss.item())
        if it == 1:
            print(f"  (step 1 ran at lr {lr_used:.1e}: warm-up starts from zero)")
        if it % REPORT_EVERY == 0:
            tr = float(np.mean(window)) / math.log(2)
            window = []
            print(f"{it:>5} {lr_used:>9.2e} {tr:>10.3f} {val_bpc():>8.3f} "
                  f"{time.perf_counter() - t0:>6.1f}")

    # greedy continuation of a prompt
    prompt = "R2 (WS): "
    ids = [stoi[c] for c in prompt]
    for _ in range(40):
        ctx = mx.array([ids[-CTX:]])
        nxt = int(mx.argmax(model(ctx)[0, -1]).item())
        ids.append(nxt)
        if chars[nxt] == "\n":
            break
    print("sample:", repr("".join(chars[i] for i in ids)))
    drift = float(np.abs(np.array(model.pos) - pos_before).max())
    print(f"positional table drift {drift:.1e}; final val {val_bpc():.3f} bits/char "
          f"vs unigram {unigram_bpc:.3f}")


if __name__ == "__main__":
    main()
