"""Character language model of synthetic folk tunes in ABC notation.

Pretraining from scratch with SEQUENCE-LENGTH WARM-UP: the context grows
16 -> 32 -> 64 characters while the number of tokens per batch stays 512.
Position embeddings are learned, so the positions a stage opens up start out
untrained.  Reports are written as ABC '%%' directive lines.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NOTES = "DEFGABcdef"
STAGES = [(16, 120), (32, 90), (64, 90)]   # (context, optimizer steps)
TOKENS_PER_BATCH = 512
MAX_CTX = 64
Z_COEF = 1e-4


def make_tune(rng, n):
    def bar():
        i = int(rng.integers(2, 8))
        out = []
        for _ in range(8):
            i = int(np.clip(i + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(NOTES) - 1))
            out.append(NOTES[i])
        return "".join(out[:4]) + " " + "".join(out[4:])

    a = [bar() for _ in range(4)]
    b = [bar() for _ in range(4)]
    head = f"X:{n}\nT:Reel {n}\nM:4/4\nL:1/8\nK:D\n"
    body = "|:" + "|".join(a) + ":|\n|:" + "|".join(b) + ":|\n"
    return head + body + "\n"


def corpus(n_tunes, seed, start):
    rng = np.random.default_rng(seed)
    return "".join(make_tune(rng, start + i) for i in range(n_tunes))


class TuneLM(nn.Module):
    def __init__(self, vocab, d=48, heads=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(MAX_CTX, d)
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.lnf = nn.LayerNorm(d)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        x = x + self.mlp(self.ln2(x))
        return self.tok.as_linear(self.lnf(x))


def loss_fn(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    z = mx.mean(mx.logsumexp(logits, axis=-1) ** 2)
    return ce + Z_COEF * z, (ce, z)


def batch(data, ctx, n, rng):
    starts = rng.integers(0, len(data) - ctx - 1, size=n)
    idx = starts[:, None] + np.arange(ctx + 1)[None, :]
    chunk = data[idx]
    return mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])


def val_bpc(model, data, ctx):
    starts = np.arange(0, len(data) - ctx - 1, ctx)
    idx = starts[:, None] + np.arange(ctx + 1)[None, :]
    chunk = data[idx]
    x, y = mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])
    ce = nn.losses.cross_entropy(model(x), y, reduction="mean")
    return ce.item() / math.log(2)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(5)
    train_txt = corpus(700, seed=1, start=1)
    val_txt = corpus(40, seed=2, start=701)
    chars = sorted(set(train_txt + val_txt))
    stoi = {c: i for i, c in enumerate(chars)}
    train = np.array([stoi[c] for c in train_txt], dtype=np.int32)
    val = np.array([stoi[c] for c in val_txt], dtype=np.int32)
    freq = np.bincount(train, minlength=len(chars)) + 1
    p = freq / freq.sum()
    uni_bpc = float(-(np.bincount(val, minlength=len(chars)) * np.log2(p)).sum() / len(val))
    print(f"%%corpus train={len(train)} val={len(val)} vocab={len(chars)} unigram_bpc={uni_bpc:.3f}")

    model = TuneLM(len(chars))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    lvg = nn.value_and_grad(model, loss_fn)
    n_params = sum(a.size for _, a in tree_flatten(model.parameters()))
    print(f"%%model params={n_params} tied_output=yes z_coef={Z_COEF}")

    t0 = time.time()
    step = 0
    for si, (ctx, n_steps) in enumerate(STAGES, 1):
        bsz = TOKENS_PER_BATCH // ctx
        print(f"%%stage {si}/{len(STAGES)} ctx={ctx} batch={bsz} "
              f"val_bpc@{ctx}={val_bpc(model, val, ctx):.3f}"
              + ("" if ctx == MAX_CTX else f" val_bpc@64={val_bpc(model, val, 64):.3f}"))
        ce_win, z_win, clipped = [], [], 0
        for k in range(1, n_steps + 1):
            step += 1
            x, y = batch(train, ctx, bsz, rng)
            (_, (ce, z)), grads = lvg(model, x, y)
            grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, ce, z, gnorm)
            ce_win.append(ce.item())
            z_win.append(z.item())
            clipped += int(gnorm.item() > 1.0)
            if step == 1:
                zero = [n for n, g in tree_flatten(grads) if not mx.any(g != 0).item()]
                print(f"%%gradcheck leaves={len(tree_flatten(grads))} all_zero={zero} "
                      f"gnorm={gnorm.item():.3f}")
            if k == 1 or k % 30 == 0:
                tr = sum(ce_win) / len(ce_win) / math.log(2)
                print(f"%%step {step} stage={si} ctx={ctx} train_bpc={tr:.3f} "
                      f"zloss={sum(z_win) / len(z_win):.2f} clipped={clipped}/{len(ce_win)} "
                      f"val_bpc@{ctx}={val_bpc(model, val, ctx):.3f} "
                      + ("" if ctx == MAX_CTX else f"val_bpc@64={val_bpc(model, val, 64):.3f} ")
                      + f"t={time.time() - t0:.1f}s")
                ce_win, z_win, clipped = [], [], 0

    # greedy completion of a tune's second bar line given its header and first part
    prompt = val_txt[: val_txt.index("|:", val_txt.index("|:") + 1) - 1][-MAX_CTX:]
    seq = [stoi[c] for c in prompt]
    for _ in range(20):
        logits = model(mx.array([seq[-MAX_CTX:]]))[0, -1]
        seq.append(int(mx.argmax(logits).item()))
    gen = "".join(chars[i] for i in seq[len(prompt):]).replace("\n", "/")
    print(f"%%sample after='{prompt[-12:].replace(chr(10), '/')}' next='{gen}'")
    print(f"%%done steps={step} val_bpc@16={val_bpc(model, val, 16):.3f} "
          f"val_bpc@64={val_bpc(model, val, 64):.3f} unigram_bpc={uni_bpc:.3f} "
          f"t={time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
