"""Tiny vision-language preference tuning (ORPO, as in VLM ORPO trainers).

Synthetic beehive-frame photos (8x8 RGB, 4 cells of 4x4) -> 2-word inspection notes
("<n> capped" + "<colour>" of the frame wax).  Stage A: short supervised warm start.
Stage B: ORPO on (chosen = correct note, rejected = note with a shifted count) with the
patch tower frozen on purpose, AdamW under a warm-up that starts at exactly lr 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

COUNTS = ["zero", "one", "two", "three", "four"]
WAX = ["pale", "amber", "dark"]
VOCAB = ["<bos>", "<eos>"] + COUNTS + WAX
TOK = {w: i for i, w in enumerate(VOCAB)}
WAX_RGB = np.array([[0.9, 0.85, 0.6], [0.8, 0.55, 0.1], [0.35, 0.2, 0.05]], np.float32)


def make_frames(n):
    imgs = np.zeros((n, 8, 8, 3), np.float32)
    notes = np.zeros((n, 2), np.int64)
    for i in range(n):
        w = rng.integers(3)
        k = rng.integers(5)
        img = np.tile(WAX_RGB[w], (8, 8, 1)) + rng.normal(0, 0.05, (8, 8, 3))
        cells = rng.permutation(4)[:k]
        for c in cells:
            r, q = divmod(int(c), 2)
            img[r * 4 + 1:r * 4 + 3, q * 4 + 1:q * 4 + 3] = [0.55, 0.4, 0.25]
        imgs[i] = img
        notes[i] = [TOK[COUNTS[k]], TOK[WAX[w]]]
    return imgs, notes


def to_seq(notes):
    b = notes.shape[0]
    return np.concatenate([np.full((b, 1), TOK["<bos>"]), notes, np.full((b, 1), TOK["<eos>"])], 1)


def corrupt(notes):
    bad = notes.copy()
    shift = rng.integers(1, 5, size=len(notes))
    k = np.array([COUNTS.index(VOCAB[t]) for t in notes[:, 0]])
    bad[:, 0] = [TOK[COUNTS[(a + s) % 5]] for a, s in zip(k, shift)]
    return bad


class TinyVLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.patch = nn.Linear(48, d)
        self.tower_norm = nn.LayerNorm(d)
        self.projector = nn.Linear(d, d)
        self.embed = nn.Embedding(len(VOCAB), d)
        self.pos = mx.random.normal((8, d)) * 0.02
        self.block = nn.TransformerEncoderLayer(d, 4, 2 * d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(VOCAB))

    def __call__(self, imgs, tokens):
        b = imgs.shape[0]
        p = imgs.reshape(b, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, 4, 48)
        v = self.projector(nn.gelu(self.tower_norm(self.patch(p))))
        x = mx.concatenate([v, self.embed(tokens)], axis=1) + self.pos[: 4 + tokens.shape[1]]
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.block(x, mask)
        return self.head(self.norm(h))[:, 4:]


def seq_logp(model, imgs, seq):
    logits = model(imgs, seq[:, :-1])
    lp = -nn.losses.cross_entropy(logits, seq[:, 1:], reduction="none")
    return lp.mean(axis=1)


def sft_loss(model, imgs, seq):
    return -seq_logp(model, imgs, seq).mean()


LAM = 0.5


def orpo_loss(model, imgs, good, bad):
    lc = seq_logp(model, imgs, good)
    lr_ = seq_logp(model, imgs, bad)
    log_odds = (lc - mx.log1p(-mx.exp(lc))) - (lr_ - mx.log1p(-mx.exp(lr_)))
    ratio = nn.log_sigmoid(log_odds)
    loss = -lc.mean() - LAM * ratio.mean()
    return loss, (lc.mean(), lr_.mean(), log_odds.mean(), (log_odds > 0).astype(mx.float32).mean())


def count_acc(model, imgs, notes):
    # score each of the 5 possible counts with the true wax colour, pick the best
    b = imgs.shape[0]
    scores = []
    for k in range(5):
        cand = notes.copy()
        cand[:, 0] = TOK[COUNTS[k]]
        scores.append(np.array(seq_logp(model, imgs, mx.array(to_seq(cand)))))
    pred = np.argmax(np.stack(scores, 1), 1)
    true = np.array([COUNTS.index(VOCAB[t]) for t in notes[:, 0]])
    return float((pred == true).mean())


tr_x, tr_y = make_frames(2048)
va_x, va_y = make_frames(400)
va_xm = mx.array(va_x)
maj = np.bincount([COUNTS.index(VOCAB[t]) for t in tr_y[:, 0]]).max() / len(tr_y)

model = TinyVLM()
mx.eval(model.parameters())
print(f"params total={sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"baseline majority count acc={maj:.3f} chance=0.200 untrained val acc={count_acc(model, va_xm, va_y):.3f}")

t0 = time.time()
# ---- Stage A: short supervised warm start (all params) ----
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, sft_loss)
for step in range(1, 701):
    idx = rng.integers(0, len(tr_x), 64)
    loss, g = vg(model, mx.array(tr_x[idx]), mx.array(to_seq(tr_y[idx])))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 175 == 0:
        print(f"[sft] step {step} nll {loss.item():.4f} val_acc {count_acc(model, va_xm, va_y):.3f}")

# ---- Stage B: ORPO with the patch tower frozen on purpose ----
model.patch.freeze()
model.tower_norm.freeze()
frozen_before = np.array(model.patch.weight)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[orpo] trainable params={n_train} (patch tower frozen)")
warm, total = 40, 400
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, total - warm, 1e-5)], [warm]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, orpo_loss)
for step in range(total):
    idx = rng.integers(0, len(tr_x), 64)
    good = to_seq(tr_y[idx])
    bad = to_seq(corrupt(tr_y[idx]))
    (loss, (lc, lr_, lo, pacc)), g = vg(model, mx.array(tr_x[idx]), mx.array(good), mx.array(bad))
    cur_lr = opt.learning_rate.item()
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 50 == 0 or step == total - 1:
        print(
            f"[orpo] step {step} lr {cur_lr:.2e} loss {loss.item():.4f} logp_chosen {lc.item():.3f} "
            f"logp_rejected {lr_.item():.3f} log_odds {lo.item():+.3f} pref_acc {pacc.item():.3f} "
            f"val_acc {count_acc(model, va_xm, va_y):.3f}"
        )

drift = float(np.abs(np.array(model.patch.weight) - frozen_before).max())
print(f"patch tower drift {drift:.1e} (frozen)")
print(f"final val count acc {count_acc(model, va_xm, va_y):.3f} vs majority {maj:.3f}  time {time.time()-t0:.1f}s")
