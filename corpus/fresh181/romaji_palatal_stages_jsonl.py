"""Transliterate a made-up syllabary into Latin, one output token per input glyph.

Stage 1 ("plain") : every glyph has one fixed romanisation.
Stage 2 ("yoon")  : a small-ya / small-yu mark after a glyph palatalises it
                    (ka + small-ya -> kya) and the mark itself becomes silent.
The model never saw a palatal target in stage 1, so the loss jumps when stage 2
opens and then comes down again.  Progress is written as JSON lines.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(181)
N_BASE = 24            # base glyphs 1..24, 0 = pad
YA, YU = 25, 26        # the two palatal marks
VOCAB = 27
# output classes: 0..23 plain, 24..47 "+ya", 48..71 "+yu", 72 silent ; -1 = ignore
N_OUT = 73
SEQ = 12
WIN = (-1, 0, 1, 2)


def make_split(n, stage):
    src = np.zeros((n, SEQ), np.int32)
    tgt = np.full((n, SEQ), -1, np.int32)
    for r in range(n):
        L = int(rng.integers(5, SEQ + 1))
        i = 0
        while i < L:
            g = int(rng.integers(1, N_BASE + 1))
            src[r, i] = g
            tgt[r, i] = g - 1
            if stage == 2 and i + 1 < L and rng.random() < 0.35:
                mark = YA if rng.random() < 0.5 else YU
                src[r, i + 1] = mark
                tgt[r, i] = (g - 1) + (24 if mark == YA else 48)
                tgt[r, i + 1] = 72
                i += 2
            else:
                i += 1
    return mx.array(src), mx.array(tgt)


class WindowTagger(nn.Module):
    def __init__(self, dim=32, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.mix = nn.Linear(dim * len(WIN), hidden)
        self.out = nn.Linear(hidden, N_OUT)

    def __call__(self, src):
        e = self.emb(src)                                   # B, T, D
        B, T, D = e.shape
        padded = mx.concatenate([mx.zeros((B, 1, D)), e, mx.zeros((B, 2, D))], axis=1)
        cols = [padded[:, 1 + k: 1 + k + T] for k in WIN]
        h = nn.gelu(self.mix(mx.concatenate(cols, axis=-1)))
        return self.out(h)


def masked_xent(model, src, tgt):
    logits = model(src)
    mask = tgt >= 0
    ce = nn.losses.cross_entropy(logits, mx.maximum(tgt, 0), reduction="none")
    return (ce * mask).sum() / mask.sum()


model = WindowTagger()
mx.eval(model.parameters())

STEPS_PER_STAGE = 300
WARM = 40
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 6e-3, WARM),
     optim.cosine_decay(6e-3, 2 * STEPS_PER_STAGE - WARM, 2e-4)],
    [WARM],
)
opt = optim.Adamax(learning_rate=schedule)
loss_and_grad = nn.value_and_grad(model, masked_xent)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(src, tgt):
    loss, grads = loss_and_grad(model, src, tgt)
    opt.update(model, grads)
    return loss


def evaluate(src, tgt):
    pred = mx.argmax(model(src), axis=-1)
    mask = tgt >= 0
    wrong = (pred != tgt) & mask
    cer = wrong.sum() / mask.sum()
    exact = (wrong.sum(axis=1) == 0).mean()
    return cer.item(), exact.item()


t0 = time.time()
BATCH = 64
gstep = 0
for stage, tag in ((1, "plain"), (2, "yoon")):
    tr_src, tr_tgt = make_split(2000, stage)
    va_src, va_tgt = make_split(400, stage)
    cer, exact = evaluate(va_src, va_tgt)
    print(json.dumps({"event": "stage_open", "stage": tag, "val_cer": round(cer, 4),
                      "val_exact": round(exact, 4)}))
    for step in range(STEPS_PER_STAGE):
        idx = mx.array(rng.integers(0, tr_src.shape[0], BATCH))
        loss = train_step(tr_src[idx], tr_tgt[idx])
        mx.eval(loss, model.parameters(), opt.state)
        gstep += 1
        if step % 30 == 0 or step == STEPS_PER_STAGE - 1:
            cer, exact = evaluate(va_src, va_tgt)
            print(json.dumps({"stage": tag, "step": step, "xent": round(loss.item(), 4),
                              "lr": float(f"{schedule(gstep - 1).item():.3e}"),
                              "val_cer": round(cer, 4), "val_exact": round(exact, 4)}))

cer1, ex1 = evaluate(*make_split(500, 1))
cer2, ex2 = evaluate(*make_split(500, 2))
print(json.dumps({"event": "done", "steps": gstep, "plain_cer": round(cer1, 4),
                  "yoon_cer": round(cer2, 4), "yoon_exact": round(ex2, 4),
                  "seconds": round(time.time() - t0, 1)}))
