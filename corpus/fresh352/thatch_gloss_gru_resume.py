"""Thatcher's order book: verb-final trade dialect -> verb-first plain English.
GRU encoder-decoder with dot-product attention. Source embeddings come from a
pretrained table (here: an SVD of a co-occurrence count matrix built from an
unlabelled order-book corpus) and are frozen in stage 1, unfrozen in stage 2.
Stage 1 ends with a checkpoint (weights + optimizer state); stage 2 rebuilds
the model and optimizer from that checkpoint and continues."""
import os
import random
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(5)
np.random.seed(5)
mx.random.seed(5)

ITEMS = {"sprel": "spars", "hazik": "hazel", "reedo": "reed", "strow": "straw",
         "lenka": "ridge", "pinol": "pins", "burda": "bundles", "kaver": "eaves"}
COUNTS = {"ane": "one", "twa": "two", "thri": "three", "fowr": "four"}
VERBS = {"bindet": "bind", "cuttet": "cut", "layet": "lay", "soaket": "soak",
         "fetchet": "fetch", "tiet": "tie"}
PLACES = {"nord": "north", "sude": "south", "heda": "gable", "rigga": "crest"}

SRC_SPECIAL, TGT_SPECIAL = ["<pad>"], ["<pad>", "<bos>", "<eos>"]
SRC_VOCAB = SRC_SPECIAL + list(ITEMS) + list(COUNTS) + list(VERBS) + list(PLACES) + ["ond"]
TGT_VOCAB = TGT_SPECIAL + sorted(set(list(ITEMS.values()) + list(COUNTS.values()) +
                                     list(VERBS.values()) + list(PLACES.values()) + ["on", "the"]))
S2I = {w: i for i, w in enumerate(SRC_VOCAB)}
T2I = {w: i for i, w in enumerate(TGT_VOCAB)}
BOS, EOS = 1, 2


def sample():
    c, it, v = random.choice(list(COUNTS)), random.choice(list(ITEMS)), random.choice(list(VERBS))
    src, tgt = [c, it], [VERBS[v], COUNTS[c], ITEMS[it]]
    if random.random() < 0.6:
        p = random.choice(list(PLACES))
        src += ["ond", p]
        tgt += ["on", "the", PLACES[p]]
    src.append(v)
    return src, tgt


# ---- "pretrained" source embeddings: SVD of a +-2 window co-occurrence matrix
corpus = [sample()[0] for _ in range(4000)]
C = np.zeros((len(SRC_VOCAB), len(SRC_VOCAB)))
for s in corpus:
    ids = [S2I[w] for w in s]
    for i, a in enumerate(ids):
        for j in range(max(0, i - 2), min(len(ids), i + 3)):
            if j != i:
                C[a, ids[j]] += 1
P = np.log1p(C)
U, S, _ = np.linalg.svd(P)
D = 24
PRETRAINED = (U[:, :D] * np.sqrt(S[:D])).astype(np.float32)
PRETRAINED /= np.linalg.norm(PRETRAINED, axis=1, keepdims=True) + 1e-6
PRETRAINED[0] = 0.0

data = [sample() for _ in range(2600)]
train, test = data[:2400], data[2400:]
SL, TL = 6, 8


def batchify(rows):
    B = len(rows)
    src = np.zeros((B, SL), np.int32)
    tin = np.zeros((B, TL), np.int32)
    tout = np.zeros((B, TL), np.int32)
    for i, (s, t) in enumerate(rows):
        src[i, :len(s)] = [S2I[w] for w in s]
        seq = [BOS] + [T2I[w] for w in t] + [EOS]
        tin[i, :len(seq) - 1] = seq[:-1]
        tout[i, :len(seq) - 1] = seq[1:]
    return mx.array(src), mx.array(tin), mx.array(tout)


class Seq2Seq(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.src_emb = nn.Embedding(len(SRC_VOCAB), D)
        self.tgt_emb = nn.Embedding(len(TGT_VOCAB), 32)
        self.enc = nn.GRU(D, h)
        self.dec = nn.GRU(32, h)
        self.out = nn.Linear(2 * h, len(TGT_VOCAB))

    def __call__(self, src, tin):
        mem = self.enc(self.src_emb(src))                      # B,S,h
        h0 = mem[:, -1]
        y = self.dec(self.tgt_emb(tin), hidden=h0)             # B,T,h
        scores = y @ mem.transpose(0, 2, 1)
        scores = mx.where((src == 0)[:, None, :], -1e9, scores)
        ctx = mx.softmax(scores, axis=-1) @ mem
        return self.out(mx.concatenate([y, ctx], axis=-1))


def loss_fn(model, src, tin, tout):
    logits = model(src, tin)
    ce = nn.losses.cross_entropy(logits, tout, reduction="none")
    m = (tout != 0).astype(mx.float32)
    return (ce * m).sum() / m.sum()


def greedy_exact(model, rows):
    src, _, tout = batchify(rows)
    ys = mx.full((len(rows), 1), BOS, dtype=mx.int32)
    for _ in range(TL - 1):
        nxt = mx.argmax(model(src, ys)[:, -1], axis=-1).astype(mx.int32)
        ys = mx.concatenate([ys, nxt[:, None]], axis=1)
    ys, ref = np.array(ys)[:, 1:], np.array(tout)
    ok = 0
    for h, r in zip(ys, ref):
        n = int((r != 0).sum())
        ok += int(np.array_equal(h[:n], r[:n]))
    return ok / len(rows)


# unigram baseline: entropy of target tokens (what a context-free model would pay)
tok_counts = np.bincount(np.array(batchify(train)[2]).ravel(), minlength=len(TGT_VOCAB))[1:]
pr = tok_counts[tok_counts > 0] / tok_counts.sum()
UNIGRAM = float(-(pr * np.log(pr)).sum())


def run_epochs(model, opt, epochs, start_epoch, tag):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(start_epoch, start_epoch + epochs):
        random.shuffle(train)
        tot = 0.0
        nb = 0
        for i in range(0, len(train), 48):
            src, tin, tout = batchify(train[i:i + 48])
            loss, g = vg(model, src, tin, tout)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        tl = loss_fn(model, *batchify(test)).item()
        print(f"[{tag}] epoch {ep} train {tot / nb:.4f} test {tl:.4f} "
              f"gain-vs-unigram {tl - UNIGRAM:+.4f} exact {greedy_exact(model, test):.3f}")
    return tl


t0 = time.time()
print(f"src vocab {len(SRC_VOCAB)} tgt vocab {len(TGT_VOCAB)} | unigram baseline {UNIGRAM:.4f} nats")

model = Seq2Seq()
model.src_emb.weight = mx.array(PRETRAINED)
model.src_emb.freeze()
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 1: pretrained source embeddings frozen, {n_train} trainable")
opt = optim.Adam(learning_rate=3e-3)
run_epochs(model, opt, 4, 1, "stage1")

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = loss_fn(model, *batchify(test)).item()
del model, opt

model = Seq2Seq()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
model.src_emb.freeze()
opt = optim.Adam(learning_rate=3e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = loss_fn(model, *batchify(test)).item()
print(f"resumed from checkpoint at step {opt.step.item()}: test {before:.4f} -> {after:.4f}")

model.src_emb.unfreeze()
opt.learning_rate = 1e-3
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 2: source embeddings unfrozen, lr 1e-3, {n_train} trainable")
drift0 = mx.array(model.src_emb.weight)
final = run_epochs(model, opt, 3, 5, "stage2")
drift = mx.abs(model.src_emb.weight - drift0).max().item()
print(f"done: test {final:.4f} (unigram {UNIGRAM:.4f}) embedding drift {drift:.4f} | {time.time() - t0:.1f}s")
