"""Lock-keeper's ledger: transliterate canal-boat names written in an old
ledger script into a phonetic spelling.

Some ledger letters become two sounds, one letter pair becomes a single
sound, and a trailing silent letter is dropped, so source and target lengths
differ and the alignment has to be learned.  LSTM encoder, LSTM decoder with
additive (Bahdanau) attention, teacher forcing, Adam under SGDR (cosine with
warm restarts, set by hand each step).  Training runs in two sessions: the
first writes a checkpoint (weights + optimizer state + meta) and exits its
loop, the second rebuilds everything from the files and carries on.
Every printed line is an S-expression.
"""
import json
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_LETTERS = 16
S_PAD = 0
SRC_V = N_LETTERS + 1          # letters are 1..16
T_PAD, T_BOS, T_EOS = 0, 1, 2
# sounds: 3..(3+15) plain, then extra sounds for the splits and the digraph
PLAIN = 3
EXTRA = PLAIN + N_LETTERS
TGT_V = EXTRA + 5
SRC_LEN, TGT_LEN = 9, 16

SPLIT = {11: (EXTRA + 0, EXTRA + 1), 12: (EXTRA + 2, PLAIN + 4), 13: (PLAIN + 1, EXTRA + 3)}
DIGRAPH = (14, 15)             # letter 14 then 15 -> one sound
SILENT_END = 16                # letter 16 at the end is not spoken


def transliterate(word):
    out, i = [], 0
    while i < len(word):
        c = word[i]
        if c == DIGRAPH[0] and i + 1 < len(word) and word[i + 1] == DIGRAPH[1]:
            out.append(EXTRA + 4)
            i += 2
            continue
        if c == SILENT_END and i == len(word) - 1:
            i += 1
            continue
        if c in SPLIT:
            out.extend(SPLIT[c])
        else:
            out.append(PLAIN + c - 1)
        i += 1
    return out + [T_EOS]


def make_batch(rng, n):
    src = np.zeros((n, SRC_LEN), np.int32)
    tgt = np.zeros((n, TGT_LEN), np.int32)
    lens = np.zeros(n, np.int32)
    for k in range(n):
        L = int(rng.integers(3, SRC_LEN + 1))
        w = list(rng.integers(1, N_LETTERS + 1, size=L))
        if rng.random() < 0.3:                      # plant the digraph
            j = int(rng.integers(0, L - 1))
            w[j], w[j + 1] = DIGRAPH
        if rng.random() < 0.3:                      # plant the silent ending
            w[-1] = SILENT_END
        t = transliterate(w)
        src[k, :L] = w
        tgt[k, : len(t)] = t
        lens[k] = L
    return src, tgt, lens


class Transliterator(nn.Module):
    def __init__(self, emb=24, hid=48):
        super().__init__()
        self.src_emb = nn.Embedding(SRC_V, emb)
        self.tgt_emb = nn.Embedding(TGT_V, emb)
        self.encoder = nn.LSTM(emb, hid)
        self.decoder = nn.LSTM(emb, hid)
        self.w_query = nn.Linear(hid, hid, bias=False)
        self.w_key = nn.Linear(hid, hid)
        self.v = nn.Linear(hid, 1, bias=False)
        self.combine = nn.Linear(2 * hid, hid)
        self.out = nn.Linear(hid, TGT_V)

    def encode(self, src, lens):
        h_all, c_all = self.encoder(self.src_emb(src))
        idx = (lens - 1)[:, None, None]
        h_last = mx.take_along_axis(h_all, idx, axis=1)[:, 0]
        c_last = mx.take_along_axis(c_all, idx, axis=1)[:, 0]
        return h_all, h_last, c_last

    def decode(self, dec_in, h_all, h0, c0, src):
        h_dec, _ = self.decoder(self.tgt_emb(dec_in), hidden=h0, cell=c0)
        q = self.w_query(h_dec)[:, :, None, :]          # B, T, 1, H
        k = self.w_key(h_all)[:, None, :, :]            # B, 1, S, H
        e = self.v(mx.tanh(q + k))[..., 0]              # B, T, S
        e = mx.where((src == S_PAD)[:, None, :], -1e9, e)
        a = mx.softmax(e, axis=-1)
        ctx = a @ h_all                                 # B, T, H
        return self.out(mx.tanh(self.combine(mx.concatenate([h_dec, ctx], -1))))

    def __call__(self, src, lens, dec_in):
        h_all, h0, c0 = self.encode(src, lens)
        return self.decode(dec_in, h_all, h0, c0, src)


def dec_inputs(tgt):
    bos = mx.full((tgt.shape[0], 1), T_BOS, dtype=tgt.dtype)
    return mx.concatenate([bos, tgt[:, :-1]], axis=1)


def loss_fn(model, src, lens, tgt):
    logits = model(src, lens, dec_inputs(tgt))
    keep = (tgt != T_PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt)
    return (ce * keep).sum() / keep.sum()


def greedy(model, src, lens):
    h_all, h0, c0 = model.encode(src, lens)
    dec = mx.full((src.shape[0], 1), T_BOS, dtype=mx.int32)
    for _ in range(TGT_LEN):
        nxt = mx.argmax(model.decode(dec, h_all, h0, c0, src)[:, -1], axis=-1)
        dec = mx.concatenate([dec, nxt[:, None].astype(mx.int32)], axis=1)
    return np.array(dec[:, 1:])


def strip(seq):
    out = []
    for s in seq:
        if s in (T_EOS, T_PAD):
            break
        out.append(int(s))
    return out


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev = cur
    return d[-1]


def cer_and_acc(pred_rows, tgt):
    errs = refs = right = 0
    for p, t in zip(pred_rows, tgt):
        p, t = strip(p), strip(t)
        errs += edit_distance(p, t)
        refs += len(t)
        right += p == t
    return errs / refs, 100.0 * right / len(tgt)


def sgdr(step, cycles=(130, 260), lr_max=8e-3, lr_min=1e-4):
    """lr for 1-based step; returns (lr, cycle index, position in cycle)."""
    start = 0
    for ci, length in enumerate(cycles):
        if step <= start + length:
            t = (step - start - 1) / length
            return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t)), ci + 1, step - start
        start += length
    return lr_min, len(cycles), step - start


def sx(head, **kv):
    parts = [head]
    for k, v in kv.items():
        key = ":" + k.replace("_", "-")
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, str):
            v = json.dumps(v)
        parts.append(f"{key} {v}")
    print("(" + " ".join(parts) + ")", flush=True)


def run_session(session, model, opt, first_step, last_step, val, t0, ckpt_dir):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    val_src, val_tgt, val_lens = val
    window = []
    for step in range(first_step, last_step + 1):
        lr, cycle, pos = sgdr(step)
        if pos == 1 and cycle > 1:
            sx("restart", session=session, step=step, cycle=cycle, lr=lr)
        opt.learning_rate = lr
        rng = np.random.default_rng(10_000 + step)        # batch depends on step only
        src, tgt, lens = make_batch(rng, 48)
        src, tgt, lens = mx.array(src), mx.array(tgt), mx.array(lens)
        loss, grads = loss_and_grad(model, src, lens, tgt)
        if step == 1:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
            sx("gradcheck", leaves=len(leaves), nonzero=nz)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 65 == 0:
            cer, acc = cer_and_acc(greedy(model, val_src, val_lens), val_tgt)
            sx("report", session=session, step=step, cycle=cycle, lr=lr,
               ce=float(np.mean(window)), val_cer=cer, val_word_acc=acc,
               wall=round(time.time() - t0, 1))
            window = []
    return cer_and_acc(greedy(model, val_src, val_lens), val_tgt)


def main():
    mx.random.seed(3)
    t0 = time.time()
    vs, vt, vl = make_batch(np.random.default_rng(99), 200)
    val = (mx.array(vs), vt, mx.array(vl))

    # reference: one sound per letter, no rules
    copy_rows = [[PLAIN + c - 1 for c in row if c != S_PAD] + [T_EOS] for row in vs]
    copy_cer, copy_acc = cer_and_acc(copy_rows, vt)
    sx("baseline", name="letter-by-letter", val_cer=copy_cer, val_word_acc=copy_acc)

    total, split_at = 390, 195
    ckpt_dir = tempfile.mkdtemp()

    # ---------------- session 1
    model = Transliterator()
    mx.eval(model.parameters())
    sx("setup", params=sum(v.size for _, v in tree_flatten(model.parameters())),
       src_vocab=SRC_V, tgt_vocab=TGT_V, steps=total)
    opt = optim.Adam(learning_rate=sgdr(1)[0])
    cer1, acc1 = run_session(1, model, opt, 1, split_at, val, t0, ckpt_dir)
    w_path = os.path.join(ckpt_dir, "weights.safetensors")
    o_path = os.path.join(ckpt_dir, "optimizer.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"step": split_at, "val_cer": cer1, "val_word_acc": acc1}, f)
    sx("checkpoint", step=split_at, val_cer=cer1, val_word_acc=acc1,
       files=len(os.listdir(ckpt_dir)))
    del model, opt

    # ---------------- session 2
    with open(os.path.join(ckpt_dir, "meta.json")) as f:
        meta = json.load(f)
    model = Transliterator()
    model.load_weights(w_path)
    opt = optim.Adam(learning_rate=sgdr(meta["step"] + 1)[0])
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    cer_r, acc_r = cer_and_acc(greedy(model, val[0], val[2]), vt)
    sx("resume", step=meta["step"], saved_cer=meta["val_cer"], reloaded_cer=cer_r,
       adam_step=int(opt.state["step"].item()))
    cer2, acc2 = run_session(2, model, opt, meta["step"] + 1, total, val, t0, ckpt_dir)

    sx("done", val_cer=cer2, val_word_acc=acc2, baseline_cer=copy_cer,
       wall=round(time.time() - t0, 1))
    shutil.rmtree(ckpt_dir)


if __name__ == "__main__":
    main()
