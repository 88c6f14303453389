"""Buoy light observer model.

Harbour watch officers log the flash glyphs they see from channel buoys.  Each
buoy class follows its own rhythm (next glyph set by the previous one), and about one glyph in ten is misread through spray.  A small causal
transformer with ALiBi distance biases (no position embeddings) learns to
predict the next logged glyph.  The run is split into two sittings: after the
first sitting the weights and optimizer state are written to disk, everything
is rebuilt from scratch and training resumes from the files.

Output is tab-separated; lines starting with '#' are notes.
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

N_GLYPHS = 8
N_CLASSES = 4
VOCAB = N_GLYPHS + N_CLASSES
SEQ = 32
MISREAD = 0.10
SCORE_FROM = 2  # from here on the glyph is set by the class and the previous glyph

rng = np.random.default_rng(11)
RHYTHM = np.stack([rng.permutation(N_GLYPHS) for _ in range(N_CLASSES)])


def watch_logs(n, gen):
    cls = gen.integers(0, N_CLASSES, size=n)
    g = np.zeros((n, SEQ - 1), dtype=np.int64)
    g[:, 0] = gen.integers(0, N_GLYPHS, size=n)
    for t in range(1, SEQ - 1):
        g[:, t] = RHYTHM[cls, g[:, t - 1]]
    flip = gen.random(g.shape) < MISREAD
    seen = np.where(flip, gen.integers(0, N_GLYPHS, size=g.shape), g)
    out = np.concatenate([(N_GLYPHS + cls)[:, None], seen], axis=1).astype(np.int32)
    return mx.array(out)


def alibi_slopes(n_heads):
    return mx.array([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)])


class AlibiAttention(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self._slopes = alibi_slopes(n_heads)

    def __call__(self, x):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        pos = mx.arange(L)
        dist = (pos[:, None] - pos[None, :]).astype(mx.float32)  # i - j
        bias = -self._slopes[:, None, None] * mx.maximum(dist, 0)
        bias = mx.where(dist < 0, mx.array(-1e9, mx.float32), bias)  # causal
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask=bias[None])
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = AlibiAttention(dim, n_heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ff(self.ln2(x))


class Observer(nn.Module):
    def __init__(self, dim=48, n_heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.blocks = [Block(dim, n_heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_GLYPHS)

    def __call__(self, toks):
        h = self.emb(toks)
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln(h))


def nll(model, toks):
    logits = model(toks[:, :-1])[:, SCORE_FROM - 1:]
    tgt = toks[:, SCORE_FROM:]
    return nn.losses.cross_entropy(logits, tgt, reduction="mean")


def hit_rate(model, toks):
    logits = model(toks[:, :-1])[:, SCORE_FROM - 1:]
    return (logits.argmax(-1) == toks[:, SCORE_FROM:]).mean().item()


PEAK, WARM, TOTAL, SITTING = 4e-3, 20, 120, 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 3e-4)], [WARM]
)


def build():
    model = Observer()
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    return model, opt


def main():
    mx.random.seed(3)
    gen = np.random.default_rng(5)
    val = watch_logs(128, gen)
    p_hit = (1 - MISREAD) + MISREAD / N_GLYPHS
    p_miss = MISREAD / N_GLYPHS
    floor = -(p_hit * math.log(p_hit) + (N_GLYPHS - 1) * p_miss * math.log(p_miss))
    print(f"# {N_CLASSES} buoy classes, {N_GLYPHS} glyphs, misread {MISREAD:.0%}, uniform guess {math.log(N_GLYPHS):.3f} nats")
    print(f"# misread floor {floor:.3f} nats, best possible hit {100 * p_hit:.1f}%")
    print("step\tlr\ttrain_nll\tval_nll\tfloor_nll\thit_pct\tceiling_pct\tsecs")

    model, opt = build()
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, nll)
    ckpt = tempfile.mkdtemp(prefix="buoywatch_")
    t0 = time.time()
    step = 0
    window = []
    while step < TOTAL:
        if step == SITTING:
            model.save_weights(os.path.join(ckpt, "observer.safetensors"))
            mx.save_safetensors(os.path.join(ckpt, "optim.safetensors"), dict(tree_flatten(opt.state)))
            print(f"# sitting 1 done at step {step}; state written to {os.path.basename(ckpt)}/, rebuilding")
            del model, opt
            model, opt = build()
            model.load_weights(os.path.join(ckpt, "observer.safetensors"))
            opt.init(model.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optim.safetensors")).items()))
            step_fn = nn.value_and_grad(model, nll)
            print(f"# sitting 2 resumes at optimizer step {int(opt.state['step'].item())}")
        lr_now = schedule(step).item()
        toks = watch_logs(12, gen)
        loss, grads = step_fn(model, toks)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(loss.item())
        if step == 1 or step % 15 == 0:
            v = nll(model, val).item()
            h = hit_rate(model, val)
            tr = sum(window) / len(window)
            window = []
            print(f"{step}\t{lr_now:.6f}\t{tr:.4f}\t{v:.4f}\t{floor:.4f}\t{100 * h:.1f}\t{100 * p_hit:.1f}\t{time.time() - t0:.1f}")
    print(f"# done: val nll {nll(model, val).item():.4f} vs floor {floor:.4f}")


if __name__ == "__main__":
    main()
