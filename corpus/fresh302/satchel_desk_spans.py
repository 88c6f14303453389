"""Span extraction from lost-property desk notes.

Each note is a short token sequence such as
    "black umbrella left on platform 4 by K. Ward"
and the desk wants three kinds of spans: ITEM, PLACE, FINDER. A two-layer
(dilated) Conv1d stack encodes the note; every span of up to 4 tokens is scored (start state, end
state, width embedding) and classified as none / ITEM / PLACE / FINDER.
Greedy non-overlapping decoding gives the spans, scored by exact-match F1.

The run is done in two sessions: 80 steps, a checkpoint of weights and
optimizer state, then a brand-new model/optimizer that loads both and carries
on to step 160 (the learning-rate schedule continues from the stored step).
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
mx.random.seed(5)

COLOURS = ["black", "red", "blue", "green", "grey", "brown", "white", "yellow"]
ITEMS = ["umbrella", "wallet", "scarf", "backpack", "phone", "glove", "laptop", "book",
         "keys", "hat", "coat", "satchel", "tablet", "bracelet"]
PLACES_A = ["platform", "bench", "gate", "carriage", "kiosk", "stairwell"]
NUMS = [str(i) for i in range(1, 10)]
PLACES_B = ["ticket hall", "waiting room", "bike rack", "taxi rank", "lift"]
INITIALS = [c + "." for c in "ABCDEFGHJKLMNPRSTW"]
SURNAMES = ["ward", "hale", "dunn", "platt", "marsh", "booth", "reed", "gate", "bench", "hall", "kiosk", "rank"]
FILLER = ["left", "on", "near", "found", "at", "by", "handed", "in", "the", "under", "beside", "staff", "noted"]

words = set(COLOURS + ITEMS + PLACES_A + NUMS + INITIALS + SURNAMES + FILLER)
for p in PLACES_B:
    words.update(p.split())
VOCAB = ["<pad>"] + sorted(words)
W2I = {w: i for i, w in enumerate(VOCAB)}
LABELS = ["none", "ITEM", "PLACE", "FINDER"]
L = 16
MAXW = 4


def make_note():
    toks, spans = [], []

    def add(chunk, lab=None):
        s = len(toks)
        toks.extend(chunk)
        if lab is not None:
            spans.append((s, len(toks) - 1, lab))

    item = ([str(rng.choice(COLOURS))] if rng.random() < 0.7 else []) + [str(rng.choice(ITEMS))]
    if rng.random() < 0.5:
        place = [str(rng.choice(PLACES_A)), str(rng.choice(NUMS))]
    else:
        place = str(rng.choice(PLACES_B)).split()
    finder = [str(rng.choice(INITIALS)), str(rng.choice(SURNAMES))]
    if rng.random() < 0.5:
        add(["found"] if rng.random() < 0.5 else [])
        add(item, 1)
        add([str(rng.choice(["left", "found"])), str(rng.choice(["on", "near", "at", "under", "beside"]))])
        add(place, 2)
        if rng.random() < 0.8:
            add(["by"])
            add(finder, 3)
    else:
        add(["staff"] if rng.random() < 0.3 else [])
        add(finder, 3)
        add(["handed", "in"])
        add(item, 1)
        add([str(rng.choice(["at", "near", "on"]))])
        add(place, 2)
    ids = [W2I[t] for t in toks]
    for k in range(len(ids)):
        if rng.random() < 0.06:
            ids[k] = int(rng.integers(1, len(VOCAB)))
    if rng.random() < 0.08 and spans:
        # annotators sometimes include / drop the colour word or the number
        j = int(rng.integers(0, len(spans)))
        s, e, lab = spans[j]
        if e > s:
            spans[j] = (s + 1, e, lab) if rng.random() < 0.5 else (s, e - 1, lab)
    return ids, spans


def build(n):
    X = np.zeros((n, L), dtype=np.int32)
    lens = np.zeros(n, dtype=np.int32)
    gold = []
    for i in range(n):
        ids, spans = make_note()
        X[i, :len(ids)] = ids
        lens[i] = len(ids)
        gold.append(spans)
    return X, lens, gold


# every candidate span (start, end) with width <= MAXW
SPANS = np.array([(s, s + w) for s in range(L) for w in range(MAXW) if s + w < L], dtype=np.int32)
S_START, S_END = mx.array(SPANS[:, 0]), mx.array(SPANS[:, 1])
S_WIDTH = mx.array(SPANS[:, 1] - SPANS[:, 0])


def span_targets(lens, gold):
    Y = np.zeros((len(lens), len(SPANS)), dtype=np.int32)
    V = (SPANS[None, :, 1] < lens[:, None]).astype(np.float32)
    index = {(int(s), int(e)): k for k, (s, e) in enumerate(SPANS)}
    for i, spans in enumerate(gold):
        for s, e, lab in spans:
            Y[i, index[(s, e)]] = lab
    return Y, V


Xtr, Ltr, Gtr = build(1500)
Xte, Lte, Gte = build(200)
Ytr, Vtr = span_targets(Ltr, Gtr)


class SpanTagger(nn.Module):
    def __init__(self, vocab, d=32, h=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.conv1 = nn.Conv1d(d, h, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(h, h, kernel_size=3, padding=2, dilation=2)
        self.width = nn.Embedding(MAXW, 16)
        self.proj = nn.Linear(2 * h + 16, 64)
        self.cls = nn.Linear(64, len(LABELS))

    def __call__(self, x):
        e = self.emb(x)
        h1 = nn.gelu(self.conv1(e))
        hs = h1 + nn.gelu(self.conv2(h1))
        rep = mx.concatenate([hs[:, S_START, :], hs[:, S_END, :],
                              mx.broadcast_to(self.width(S_WIDTH)[None], (x.shape[0], len(SPANS), 16))], axis=-1)
        return self.cls(nn.relu(self.proj(rep)))


def span_loss(model, x, y, valid):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * valid).sum() / valid.sum()


def decode(logits, lens):
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = []
    for i in range(len(lens)):
        lab = probs[i].argmax(-1)
        cand = [(probs[i, k, lab[k]], k) for k in range(len(SPANS)) if lab[k] > 0 and SPANS[k, 1] < lens[i]]
        cand.sort(reverse=True)
        used, spans = set(), []
        for _, k in cand:
            s, e = int(SPANS[k, 0]), int(SPANS[k, 1])
            if used.isdisjoint(range(s, e + 1)):
                used.update(range(s, e + 1))
                spans.append((s, e, int(lab[k])))
        out.append(spans)
    return out


def f1(pred, gold):
    tp = sum(len(set(p) & set(g)) for p, g in zip(pred, gold))
    np_ = sum(len(p) for p in pred)
    ng = sum(len(g) for g in gold)
    return 200.0 * tp / max(np_ + ng, 1)


def lookup_baseline(X, lens):
    # gazetteer: item words -> ITEM, known place heads (+ following number) -> PLACE, initial+surname -> FINDER
    out = []
    item_ids = {W2I[w] for w in ITEMS}
    place_ids = {W2I[w] for w in PLACES_A}
    init_ids = {W2I[w] for w in INITIALS}
    for i in range(len(lens)):
        toks, spans, t = X[i, :lens[i]], [], 0
        while t < lens[i]:
            if toks[t] in item_ids:
                spans.append((t, t, 1))
            elif toks[t] in place_ids and t + 1 < lens[i]:
                spans.append((t, t + 1, 2))
                t += 1
            elif toks[t] in init_ids and t + 1 < lens[i]:
                spans.append((t, t + 1, 3))
                t += 1
            t += 1
        out.append(spans)
    return out


def evaluate(model):
    logits = model(mx.array(Xte))
    Yte, Vte = span_targets(Lte, Gte)
    loss = span_loss(model, mx.array(Xte), mx.array(Yte), mx.array(Vte))
    mx.eval(logits, loss)
    return float(loss), f1(decode(np.array(logits), Lte), Gte)


TOTAL, HALF, B = 160, 80, 32
schedule = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, TOTAL - 20, 1e-4)], [20])


def fresh():
    m = SpanTagger(len(VOCAB))
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-3)
    return m, o


def run(model, opt, first, last, log_every=20):
    lg = nn.value_and_grad(model, span_loss)
    window = []
    for step in range(first, last + 1):
        idx = rng.integers(0, len(Xtr), B)
        lr_now = float(opt.learning_rate)
        loss, grads = lg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]), mx.array(Vtr[idx]))
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        window.append(float(loss))
        if step == 1 or step % log_every == 0:
            vl, vf = evaluate(model)
            print(f"[desk] step {step:4d} | lr {lr_now:.2e} | train span-CE {np.mean(window):.4f} "
                  f"| test span-CE {vl:.4f} | test span F1 {vf:5.1f}% | {time.time() - t0:5.1f}s")
            window = []


t0 = time.time()
print(f"[desk] {len(Xtr)} train / {len(Xte)} test notes, vocab {len(VOCAB)}, {len(SPANS)} candidate spans per note")
print(f"[desk] gazetteer lookup span F1 on test: {f1(lookup_baseline(Xte, Lte), Gte):.1f}%  "
      f"(share of candidate spans that are entities: {100.0 * (Ytr > 0).sum() / Vtr.sum():.1f}%)")

model, opt = fresh()
mx.eval(model.parameters())
g = nn.value_and_grad(model, span_loss)(model, mx.array(Xtr[:B]), mx.array(Ytr[:B]), mx.array(Vtr[:B]))[1]
zeros = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
print(f"[desk] gradient arrays: {len(tree_flatten(g))}, all-zero: {zeros if zeros else 'none'}")
vl, vf = evaluate(model)
print(f"[desk] untrained | test span-CE {vl:.4f} | test span F1 {vf:5.1f}%")

run(model, opt, 1, HALF)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
before = evaluate(model)
print(f"[desk] session 1 saved at step {HALF} (test span-CE {before[0]:.4f})")

del model, opt
model, opt = fresh()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
after = evaluate(model)
print(f"[desk] session 2 loaded: optimizer step {int(opt.state['step'])}, lr {float(opt.learning_rate):.2e}, "
      f"test span-CE {after[0]:.4f} (diff {abs(after[0] - before[0]):.1e})")

run(model, opt, HALF + 1, TOTAL)
vl, vf = evaluate(model)
print(f"[desk] done | test span-CE {vl:.4f} | test span F1 {vf:.1f}% | {time.time() - t0:.1f}s")
shutil.rmtree(ckpt, ignore_errors=True)
