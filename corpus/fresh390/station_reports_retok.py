"""Weather-station observation reports, next-token GRU model.

A small BPE vocabulary is learned once. Each epoch the training reports are
re-tokenized with BPE-dropout (merges skipped at random), the token stream is
written to an .npy file and memory-mapped back for training; this happens
between epochs and prints nothing until it is done. Because the segmentation
changes each epoch, the per-token loss is not comparable across epochs; bits
per character is. A full held-out pass with the deterministic segmentation
runs after every epoch.
"""
import math
import os
import random
import tempfile
import time
from collections import Counter

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = random.Random(5)
mx.random.seed(5)
CLOUD = ["FEW", "SCT", "BKN", "OVC"]


def report(r):
    stn = r.choice([3, 7, 12, 19, 24])
    hh = r.randrange(24)
    d = r.choice(range(0, 360, 10))
    spd = r.randrange(2, 25)
    temp = r.randrange(-5, 26)
    dew = temp - r.randrange(0, 9)
    qnh = 1013 + r.randrange(-14, 15)
    vis = "9999" if r.random() < 0.7 else f"{r.randrange(8, 60) * 100:04d}"
    sky = f"{r.choice(CLOUD)}{r.randrange(5, 50):03d}"
    tt = lambda v: f"M{-v:02d}" if v < 0 else f"{v:02d}"
    return (f"STN{stn:02d} {hh:02d}00Z WIND {d:03d}{spd:02d}KT VIS {vis} "
            f"TEMP {tt(temp)}/{tt(dew)} Q{qnh} {sky}")


train_txt = [report(rng) for _ in range(1600)]
val_txt = [report(rng) for _ in range(400)]
chars = sorted(set("".join(train_txt + val_txt)))
SEP = "\n"
base_vocab = [SEP] + chars


def learn_merges(texts, n_merges):
    seqs = [list(t) + [SEP] for t in texts]
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for s in seqs:
            pairs.update(zip(s, s[1:]))
        (a, b), _ = pairs.most_common(1)[0]
        merges.append((a, b))
        seqs = [apply_merge(s, a, b, 0.0, None) for s in seqs]
    return merges


def apply_merge(s, a, b, p_drop, r):
    out, i = [], 0
    while i < len(s):
        if i + 1 < len(s) and s[i] == a and s[i + 1] == b and (p_drop == 0.0 or r.random() >= p_drop):
            out.append(a + b)
            i += 2
        else:
            out.append(s[i])
            i += 1
    return out


def tokenize(texts, merges, tok_id, p_drop, r):
    ids = []
    for t in texts:
        s = list(t) + [SEP]
        for a, b in merges:
            s = apply_merge(s, a, b, p_drop, r)
        ids.extend(tok_id[x] for x in s)
    return np.asarray(ids, np.int32)


class ReportLM(nn.Module):
    def __init__(self, vocab, dim=48, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.out(self.gru(self.emb(x)))


def windows(stream, length):
    n = (len(stream) - 1) // length
    x = np.asarray(stream[: n * length]).reshape(n, length)
    y = np.asarray(stream[1: n * length + 1]).reshape(n, length)
    return x, y


def main():
    t0 = time.time()
    merges = learn_merges(train_txt, 60)
    vocab = base_vocab + [a + b for a, b in merges]
    vocab = list(dict.fromkeys(vocab))
    tok_id = {t: i for i, t in enumerate(vocab)}
    val_ids = tokenize(val_txt, merges, tok_id, 0.0, None)
    val_chars = sum(len(t) + 1 for t in val_txt)
    print(f"vocab {len(vocab)} ({len(merges)} merges learned in {time.time() - t0:.1f}s); "
          f"held-out {len(val_txt)} reports = {val_chars} chars -> {len(val_ids)} tokens")
    print(f"reference: uniform over {len(chars) + 1} symbols = {math.log2(len(chars) + 1):.2f} bits/char")

    model = ReportLM(len(vocab))
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    scratch = tempfile.mkdtemp()
    L, B = 32, 48
    print(f"params {n_params}; window {L} tokens, batch {B}; BPE-dropout 0.1 re-tokenization each epoch")
    for ep in range(1, 7):
        t_tok = time.time()
        ids = tokenize(train_txt, merges, tok_id, 0.1, random.Random(100 + ep))
        path = os.path.join(scratch, f"epoch{ep}.npy")
        np.save(path, ids)
        stream = np.load(path, mmap_mode="r")
        train_chars = sum(len(t) + 1 for t in train_txt)
        x_all, y_all = windows(stream, L)
        tok_s = time.time() - t_tok
        t_tr = time.time()
        order = np.random.default_rng(ep).permutation(len(x_all))
        nats, toks = 0.0, 0
        for s in range(0, len(order) - B + 1, B):
            idx = order[s:s + B]
            x, y = mx.array(x_all[idx]), mx.array(y_all[idx])
            loss, g = vg(model, x, y)
            g, _ = optim.clip_grad_norm(g, 1.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            nats += loss.item() * x.size
            toks += x.size
        train_bpc = (nats / toks) * (len(stream) / train_chars) / math.log(2)
        tr_s = time.time() - t_tr
        # full held-out pass, deterministic segmentation
        vx, vy = windows(val_ids, L)
        v_nats = 0.0
        for s in range(0, len(vx), 64):
            lg = model(mx.array(vx[s:s + 64]))
            v_nats += nn.losses.cross_entropy(lg, mx.array(vy[s:s + 64]), reduction="sum").item()
        v_tok = vx.size
        val_bpc = v_nats / (v_tok * val_chars / len(val_ids)) / math.log(2)
        print(f"epoch {ep} | tokens {len(stream)} ({train_chars / len(stream):.2f} chars/tok) "
              f"| train {nats / toks:.3f} nats/tok {train_bpc:.3f} bpc | held-out {v_nats / v_tok:.3f} "
              f"nats/tok {val_bpc:.3f} bpc | retok {tok_s:.1f}s train {tr_s:.1f}s")
        os.remove(path)
    os.rmdir(scratch)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
