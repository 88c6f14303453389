# Packed-document LM: variable-length toy documents packed into equal-width rows,
# block-diagonal causal attention (segment ids), positions restart per document,
# targets that would cross a document border are dropped from the loss.
# Linear warmup from exactly 0, then cosine decay. Reports as JSON lines.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, ROW, DIMS, HEADS = 24, 64, 48, 4
HD = DIMS // HEADS


def make_docs(rng, n):
    docs = []
    for _ in range(n):
        p = int(rng.integers(3, 7))
        motif = rng.integers(1, VOCAB, size=p)
        length = int(rng.integers(10, 30))
        docs.append(np.tile(motif, length // p + 2)[:length])
    return docs


def pack(docs, rows):
    toks = np.zeros((rows, ROW + 1), np.int32)
    seg = np.full((rows, ROW + 1), -1, np.int32)
    pos = np.zeros((rows, ROW + 1), np.int32)
    r, c, sid = 0, 0, 0
    for d in docs:
        if c + len(d) > ROW + 1:
            r, c = r + 1, 0
            if r == rows:
                break
        toks[r, c:c + len(d)] = d
        seg[r, c:c + len(d)] = sid
        pos[r, c:c + len(d)] = np.arange(len(d))
        c += len(d)
        sid += 1
    x, y = toks[:, :-1], toks[:, 1:]
    valid = (seg[:, :-1] == seg[:, 1:]) & (seg[:, 1:] >= 0)
    return mx.array(x), mx.array(y), mx.array(seg[:, :-1]), mx.array(pos[:, :-1]), mx.array(valid)


def rope(x, pos):
    half = HD // 2
    inv = mx.power(10000.0, -mx.arange(half, dtype=mx.float32) / half)
    ang = pos[:, None, :, None].astype(mx.float32) * inv
    c, s = mx.cos(ang), mx.sin(ang)
    a, b = x[..., :half], x[..., half:]
    return mx.concatenate([a * c - b * s, a * s + b * c], axis=-1)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(DIMS), nn.LayerNorm(DIMS)
        self.qkv = nn.Linear(DIMS, 3 * DIMS)
        self.o = nn.Linear(DIMS, DIMS)
        self.ff = nn.Sequential(nn.Linear(DIMS, 3 * DIMS), nn.GELU(), nn.Linear(3 * DIMS, DIMS))

    def __call__(self, h, mask, pos):
        B, L, _ = h.shape
        q, k, v = [t.reshape(B, L, HEADS, HD).transpose(0, 2, 1, 3)
                   for t in mx.split(self.qkv(self.n1(h)), 3, axis=-1)]
        q, k = rope(q, pos), rope(k, pos)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=HD ** -0.5, mask=mask)
        h = h + self.o(a.transpose(0, 2, 1, 3).reshape(B, L, DIMS))
        return h + self.ff(self.n2(h))


class PackedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIMS)
        self.layers = [Layer(), Layer()]
        self.out = nn.Linear(DIMS, VOCAB)

    def __call__(self, x, seg, pos):
        L = x.shape[1]
        causal = mx.tril(mx.ones((L, L), dtype=mx.bool_))
        same = seg[:, :, None] == seg[:, None, :]
        mask = (causal[None] & same)[:, None]
        h = self.emb(x)
        for l in self.layers:
            h = l(h, mask, pos)
        return self.out(h)


def loss_fn(model, x, y, seg, pos, valid):
    ce = nn.losses.cross_entropy(model(x, seg, pos), y)
    w = valid.astype(mx.float32)
    return (ce * w).sum() / mx.maximum(w.sum(), 1.0)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    steps, warm, peak = 160, 30, 3e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-4)], [warm])
    model = PackedLM()
    opt = optim.Adam(learning_rate=sched)
    val = pack(make_docs(np.random.default_rng(7), 200), 24)
    vv = val[4].astype(mx.float32)
    uni = np.bincount(np.array(val[1]).ravel()[np.array(val[4]).ravel()], minlength=VOCAB) + 1
    uni_ce = float(-(uni / uni.sum() * np.log(uni / uni.sum())).sum())
    print(json.dumps({"event": "start", "rows": 24, "unigram_baseline_ce": round(uni_ce, 4),
                      "valid_targets": int(vv.sum().item())}))
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for it in range(1, steps + 1):
        batch = pack(make_docs(rng, 120), 16)
        lr_now = float(sched(opt.step))
        loss, g = step_fn(model, *batch)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % 20 == 0:
            vl = loss_fn(model, *val).item()
            print(json.dumps({"step": it, "lr": round(lr_now, 6), "train_ce": round(loss.item(), 4),
                              "val_ce": round(vl, 4), "vs_unigram": round(vl - uni_ce, 4)}))
    print(json.dumps({"event": "done", "sec": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
