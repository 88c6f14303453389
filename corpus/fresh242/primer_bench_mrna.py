"""Teaching a tiny decoder to transcribe DNA template strands into mRNA.

Each record: prompt "<tube label>:<template strand>>" and completion "<mRNA>."
(A->U, T->A, G->C, C->G, same order).  Only completion tokens carry loss.
Records are bucketed by length and right-padded per batch.  The learning rate
warms up from exactly 0, gradients are accumulated over two micro-batches, and
the run is checkpointed half-way and resumed into a freshly built model and
optimizer.  Log lines imitate a kernel ring buffer.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()


def klog(sub, msg):
    print(f"[{time.time() - T0:12.6f}] {sub}: {msg}", flush=True)


VOCAB = ["<pad>"] + list("klmnpqrstvwz") + list("ACGTU") + [":", ">", "."]
STOI = {c: i for i, c in enumerate(VOCAB)}
PAD = 0
PAIR = {"A": "U", "T": "A", "G": "C", "C": "G"}
MAXLEN = 24

rng = np.random.default_rng(11)


def record():
    label = "".join(rng.choice(list("klmnpqrstvwz"), size=int(rng.integers(2, 5))))
    dna = "".join(rng.choice(list("ACGT"), size=int(rng.integers(3, 8))))
    prompt = f"{label}:{dna}>"
    completion = "".join(PAIR[b] for b in dna) + "."
    return [STOI[c] for c in prompt + completion], len(prompt)


def buckets(data, bs, shuffle):
    order = sorted(range(len(data)), key=lambda i: (len(data[i][0]), rng.random()))
    chunks = [order[i : i + bs] for i in range(0, len(order), bs)]
    if shuffle:
        rng.shuffle(chunks)
    for ch in chunks:
        L = max(len(data[i][0]) for i in ch)
        arr = np.full((len(ch), L), PAD, np.int32)
        lmask = np.zeros((len(ch), L - 1), np.float32)
        full = np.zeros((len(ch), L - 1), np.float32)
        for j, i in enumerate(ch):
            toks, off = data[i]
            arr[j, : len(toks)] = toks
            lmask[j, off - 1 : len(toks) - 1] = 1.0   # predict completion tokens only
            full[j, : len(toks) - 1] = 1.0
        yield mx.array(arr), mx.array(lmask), mx.array(full)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.n2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.ff(self.n2(x))


class Transcriber(nn.Module):
    def __init__(self, vocab, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def losses(model, batch, lmask, full):
    logits = model(batch[:, :-1])
    ce = nn.losses.cross_entropy(logits, batch[:, 1:])
    comp = (ce * lmask).sum() / lmask.sum()
    allt = (ce * full).sum() / full.sum()
    return comp, allt


def comp_loss(model, batch, lmask, full):
    return losses(model, batch, lmask, full)[0]


def evaluate(model, data):
    c_sum = a_sum = n = 0.0
    for batch, lmask, full in buckets(data, 50, False):
        c, a = losses(model, batch, lmask, full)
        k = lmask.sum().item()
        c_sum += c.item() * k
        a_sum += a.item() * k
        n += k
    return c_sum / n, a_sum / n


def exact(model, data):
    hit = 0
    for toks, off in data:
        seq = list(toks[:off])
        while len(seq) < len(toks):
            seq.append(int(mx.argmax(model(mx.array([seq]))[0, -1]).item()))
        hit += seq == toks
    return 100.0 * hit / len(data)


def make_opt(total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 30), optim.cosine_decay(3e-3, total - 30, 3e-4)], [30]
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3), sched


def run_phase(model, opt, sched, train, val, start, stop, accum=2):
    lg = nn.value_and_grad(model, comp_loss)
    upd = start
    acc, micro = None, 0
    window = []
    while upd < stop:
        for batch, lmask, full in buckets(train, 16, True):
            loss, g = lg(model, batch, lmask, full)
            acc = g if acc is None else tree_map2(acc, g)
            micro += 1
            window.append(loss.item())
            if micro % accum:
                continue
            acc = tree_scale(acc, 1.0 / accum)
            lr_now = sched(opt.step).item()
            opt.update(model, acc)
            mx.eval(model.parameters(), opt.state)
            acc = None
            upd += 1
            if upd % 40 == 0:
                vc, va = evaluate(model, val)
                klog("sft", f"update={upd} lr={lr_now:.2e} train_comp_ce={np.mean(window):.4f} "
                     f"val_comp_ce={vc:.4f} val_all_ce={va:.4f}")
                window = []
            if upd >= stop:
                break
    return upd


def tree_map2(a, b):
    from mlx.utils import tree_map
    return tree_map(lambda x, y: x + y, a, b)


def tree_scale(a, s):
    from mlx.utils import tree_map
    return tree_map(lambda x: x * s, a)


def main():
    mx.random.seed(3)
    train = [record() for _ in range(2400)]
    val = [record() for _ in range(200)]
    total, half = 320, 160
    klog("data", f"train={len(train)} val={len(val)} vocab={len(VOCAB)} pad_id={PAD}")

    model = Transcriber(len(VOCAB))
    opt, sched = make_opt(total)
    g = nn.value_and_grad(model, comp_loss)(model, *next(buckets(train, 16, False)))[1]
    leaves = tree_flatten(g)
    klog("audit", f"grad leaves={len(leaves)} all_zero={sum(int(mx.all(v == 0).item()) for _, v in leaves)}")
    vc, va = evaluate(model, val)
    klog("sft", f"update=0 val_comp_ce={vc:.4f} val_all_ce={va:.4f} uniform_ce={np.log(len(VOCAB)):.4f}")

    upd = run_phase(model, opt, sched, train, val, 0, half)
    ckdir = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckdir, "w.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
    before, _ = evaluate(model, val)
    klog("ckpt", f"saved at update={upd}, val_comp_ce={before:.4f}")

    model = Transcriber(len(VOCAB))
    model.load_weights(os.path.join(ckdir, "w.safetensors"))
    opt, sched = make_opt(total)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
    after, _ = evaluate(model, val)
    klog("ckpt", f"resumed at step={opt.step.item()} val_comp_ce={after:.4f} delta={after - before:+.5f}")

    run_phase(model, opt, sched, train, val, upd, total)
    em = exact(model, val[:100])
    # a copy-through baseline: echo the template letters (T->U) instead of pairing
    base = 0.0
    for toks, off in val[:100]:
        dna = [VOCAB[t] for t in toks[off - 1 - (len(toks) - off - 1) : off - 1]]
        base += "".join("U" if b == "T" else b for b in dna) + "." == "".join(VOCAB[t] for t in toks[off:])
    klog("eval", f"exact_match={em:.1f}% copy_baseline={100 * base / 100:.1f}%")


if __name__ == "__main__":
    main()
