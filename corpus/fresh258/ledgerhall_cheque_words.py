"""Cheque clearing: read the 'legal amount' written in words and emit the
courtesy amount digits. Word-level encoder (LSTM) + LSTM decoder with additive
attention, scheduled sampling after a teacher-forced phase, label smoothing,
a mid-run checkpoint that is reloaded into fresh objects, then training resumes."""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n):
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        out = [ONES[n // 100], "hundred"]
        if n % 100:
            out += ["and"] + words(n % 100)
        return out
    out = words(n // 1000) + ["thousand"]
    if n % 1000:
        if n % 1000 < 100:
            out += ["and"]
        out += words(n % 1000)
    return out


SRC_VOCAB = ["<pad>"] + sorted(set(ONES + TENS[2:] + ["hundred", "thousand", "and"]))
S2I = {w: i for i, w in enumerate(SRC_VOCAB)}
TGT_VOCAB = ["<pad>", "<bos>", "<eos>"] + list("0123456789")
PAD, BOS, EOS = 0, 1, 2
SRC_LEN, TGT_LEN = 12, 6  # up to 4 digits + eos, plus bos on the input side


def encode(n):
    s = [S2I[w] for w in words(n)]
    t = [3 + int(c) for c in str(n)] + [EOS]
    return s + [PAD] * (SRC_LEN - len(s)), t + [PAD] * (TGT_LEN - 1 - len(t))


values = rng.permutation(10000)
train_vals, val_vals = values[:1280], values[1280:1580]
def tensors(vals):
    src, tgt = zip(*(encode(int(v)) for v in vals))
    return mx.array(np.array(src, np.int32)), mx.array(np.array(tgt, np.int32))
Xtr, Ytr = tensors(train_vals)
Xva, Yva = tensors(val_vals)


class Reader(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.src_emb = nn.Embedding(len(SRC_VOCAB), d)
        self.tgt_emb = nn.Embedding(len(TGT_VOCAB), d)
        self.enc = nn.LSTM(d, d)
        self.dec = nn.LSTM(2 * d, d)
        self.att_k = nn.Linear(d, d, bias=False)
        self.att_q = nn.Linear(d, d)
        self.att_v = nn.Linear(d, 1, bias=False)
        self.out = nn.Linear(2 * d, len(TGT_VOCAB))

    def encode(self, src):
        hs, cs = self.enc(self.src_emb(src))
        return hs, hs[:, -1], cs[:, -1], src != PAD

    def step(self, tok, h, c, enc, keys, src_mask):
        # additive attention over encoder states using the previous decoder state
        e = self.att_v(mx.tanh(keys + self.att_q(h)[:, None, :])).squeeze(-1)
        e = mx.where(src_mask, e, -1e9)
        a = mx.softmax(e, axis=-1)
        ctx = (a[:, :, None] * enc).sum(axis=1)
        x = mx.concatenate([self.tgt_emb(tok), ctx], axis=-1)[:, None, :]
        hs, cs = self.dec(x, hidden=h, cell=c)
        h, c = hs[:, -1], cs[:, -1]
        return self.out(mx.concatenate([h, ctx], axis=-1)), h, c

    def __call__(self, src, tgt, tf_prob):
        enc, h, c, src_mask = self.encode(src)
        keys = self.att_k(enc)
        tok = mx.full((src.shape[0],), BOS, dtype=mx.int32)
        logits = []
        for t in range(tgt.shape[1]):
            lg, h, c = self.step(tok, h, c, enc, keys, src_mask)
            logits.append(lg)
            own = mx.stop_gradient(mx.argmax(lg, axis=-1)).astype(mx.int32)
            use_gold = mx.random.uniform(shape=(src.shape[0],)) < tf_prob
            tok = mx.where(use_gold, tgt[:, t], own)
        return mx.stack(logits, axis=1)

    def greedy(self, src):
        enc, h, c, src_mask = self.encode(src)
        keys = self.att_k(enc)
        tok = mx.full((src.shape[0],), BOS, dtype=mx.int32)
        out = []
        for _ in range(TGT_LEN - 1):
            lg, h, c = self.step(tok, h, c, enc, keys, src_mask)
            tok = mx.argmax(lg, axis=-1).astype(mx.int32)
            out.append(tok)
        return mx.stack(out, axis=1)


def smoothed_ce(model, src, tgt, tf_prob):
    logits = model(src, tgt, tf_prob)
    mask = tgt != PAD
    ce = nn.losses.cross_entropy(logits, tgt, label_smoothing=0.1) * mask
    return ce.sum() / mask.sum()


def exact_match(model, src, tgt):
    pred = np.array(model.greedy(src))
    gold = np.array(tgt)
    ok = 0
    for p, g in zip(pred, gold):
        g_end = list(g).index(EOS)
        ok += int(list(p[: g_end + 1]) == list(g[: g_end + 1]))
    return 100.0 * ok / len(gold)


EPOCHS, BATCH = 7, 64
steps_per_epoch = len(train_vals) // BATCH
total = EPOCHS * steps_per_epoch
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 20), optim.cosine_decay(4e-3, total - 20, 2e-4)], [20])


def tf_for(epoch):
    # fully teacher forced for 3 epochs, then ramp down to 0.5
    return 1.0 if epoch <= 3 else max(0.5, 1.0 - 0.15 * (epoch - 3))


def build():
    m = Reader()
    o = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return m, o


model, opt = build()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
common = np.bincount([len(str(v)) for v in train_vals]).argmax()
most_common_answer = max(set(train_vals.tolist()), key=train_vals.tolist().count)
print(f"legal-amount reader: {n_params} params, src vocab {len(SRC_VOCAB)}, tgt vocab {len(TGT_VOCAB)}")
print(f"train {len(train_vals)} cheques, valid {len(val_vals)}; chance exact-match ~{100/10000:.2f}% "
      f"(constant answer baseline {100*np.mean(val_vals == most_common_answer):.2f}%)")
print(f"example: {' '.join(words(int(val_vals[0])))!r} -> {val_vals[0]}")

ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
epoch = 1
while epoch <= EPOCHS:
    tf = tf_for(epoch)
    loss_and_grad = nn.value_and_grad(model, smoothed_ce)
    perm = mx.array(rng.permutation(len(train_vals)))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx], tf)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    em = exact_match(model, Xva, Yva)
    vloss = smoothed_ce(model, Xva, Yva, 1.0).item()
    print(f"[ep {epoch:02d}/{EPOCHS}] teacher_forcing={tf:.2f} lr={lr_sched(opt.step).item():.2e} "
          f"train_ls_ce={tot / steps_per_epoch:.4f} val_ls_ce={vloss:.4f} val_exact={em:5.1f}% ({time.time() - t0:.0f}s)")

    if epoch == 3:
        # write a checkpoint, drop everything, rebuild and reload
        mx.save_safetensors(os.path.join(ckpt_dir, "weights.safetensors"), dict(tree_flatten(model.parameters())))
        mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
        del model, opt
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        print(f"checkpoint written and reloaded at step {opt.step.item()}: "
              f"val_exact={exact_match(model, Xva, Yva):5.1f}% (unchanged), resuming")
    epoch += 1

shutil.rmtree(ckpt_dir)
print(f"finished in {time.time() - t0:.1f}s; final valid exact-match {exact_match(model, Xva, Yva):.1f}%")
for v in val_vals[1:4]:
    s, _ = encode(int(v))
    p = np.array(model.greedy(mx.array([s])))[0]
    digits = "".join(TGT_VOCAB[i] for i in p if i >= 3 and i != EOS)
    print(f"  {' '.join(words(int(v)))!r} -> {digits}")
