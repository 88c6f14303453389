"""Teleprinter tape reader: a small causal transformer reads noisy 5-hole tape rows and emits the
printed character for each row (or nothing, for shift / idle rows).

Letter/figure shift state persists across rows, so the same hole pattern prints
a letter or a digit depending on the last shift row seen.  Evaluated during
training with character error rate (edit distance), exact-line rate and
masked row accuracy.  Halfway through, the run writes a checkpoint (weights,
optimizer state, data-order RNG), tears everything down and resumes from it.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FIGURES = "0123456789-?:()."
IDLE, FIGS, SPACE, LTRS = 0, 27, 28, 31
PAD_T, NONE_T = 0, 1
OUT_CHARS = LETTERS + FIGURES + " "
CH2T = {c: i + 2 for i, c in enumerate(OUT_CHARS)}
T2CH = {v: k for k, v in CH2T.items()}
VOCAB = len(OUT_CHARS) + 2
MAXLEN = 32

WORDS = ["SHIP", "DUE", "PORT", "TRAIN", "LATE", "MAIL", "SEND", "STOP", "COAL",
         "WIRE", "BANK", "PAY", "NORTH", "SOUTH", "DOCK", "CARGO", "TIDE", "FOG"]


def random_line(rng):
    parts = []
    while True:
        if rng.random() < 0.35:
            n = rng.integers(1, 5)
            tok = "".join(rng.choice(list(FIGURES[:10]), size=n))
            if rng.random() < 0.2:
                tok += rng.choice(list(FIGURES[10:]))
        else:
            tok = str(rng.choice(WORDS))
        if sum(len(p) + 2 for p in parts) + len(tok) + 2 > MAXLEN - 4:
            break
        parts.append(tok)
    return " ".join(parts)


def encode(text, rng):
    """Characters -> tape codes with shift rows inserted; returns codes and row targets."""
    codes, targets = [], []
    mode = "L"
    if rng.random() < 0.5:  # operators often send a leading LTRS
        codes.append(LTRS); targets.append(NONE_T)
    for ch in text:
        if rng.random() < 0.04:  # idle blank tape between characters
            codes.append(IDLE); targets.append(NONE_T)
        if ch == " ":
            codes.append(SPACE); targets.append(CH2T[" "]); continue
        want = "L" if ch in LETTERS else "F"
        if want != mode:
            codes.append(LTRS if want == "L" else FIGS); targets.append(NONE_T)
            mode = want
        code = LETTERS.index(ch) + 1 if want == "L" else FIGURES.index(ch) + 1
        codes.append(code); targets.append(CH2T[ch])
    return codes[:MAXLEN], targets[:MAXLEN]


def make_split(n, rng):
    x = np.zeros((n, MAXLEN, 6), np.float32)
    y = np.zeros((n, MAXLEN), np.int32)
    for i in range(n):
        codes, tg = encode(random_line(rng), rng)
        L = len(codes)
        bits = ((np.array(codes)[:, None] >> np.arange(5)) & 1).astype(np.float32)
        flip = rng.random((L, 5)) < 0.006  # mis-punched holes
        bits = np.where(flip, 1 - bits, bits)
        x[i, :L, :5] = 0.1 + 0.8 * bits + rng.normal(0, 0.18, (L, 5))
        x[i, :L, 5] = 1.0 + rng.normal(0, 0.05, L)  # sprocket hole
        y[i, :L] = tg
    return x, y


class TapeReader(nn.Module):
    def __init__(self, dims=48, layers=1):
        super().__init__()
        self.inp = nn.Linear(6, dims)
        self.pos = nn.Embedding(MAXLEN, dims)
        self.blocks = [nn.TransformerEncoderLayer(dims, 4, 2 * dims, norm_first=True)
                       for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        h = self.inp(x) + self.pos(mx.arange(L))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for blk in self.blocks:
            h = blk(h, causal)
        return self.out(self.norm(h))


def loss_fn(model, x, y):
    logits = model(x)
    mask = (y != PAD_T).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * mask).sum() / mask.sum()


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def to_text(tokens):
    return "".join(T2CH[t] for t in tokens if t >= 2)


def evaluate(model, x, y):
    logits = model(mx.array(x))
    yy = mx.array(y)
    mask = (yy != PAD_T)
    ce = nn.losses.cross_entropy(logits, yy, reduction="none")
    loss = ((ce * mask).sum() / mask.sum()).item()
    pred = np.array(mx.argmax(logits, axis=-1))
    valid = y != PAD_T
    row_acc = float(((pred == y) & valid).sum() / valid.sum())
    errs = chars = exact = 0
    for p, t, v in zip(pred, y, valid):
        hyp, ref = to_text(p[v]), to_text(t[v])
        d = edit_distance(hyp, ref)
        errs += d
        chars += len(ref)
        exact += d == 0
    return loss, row_acc, errs / chars, exact / len(y)


def mode_blind_cer(x, y):
    """Reference reader: thresholds the holes and always uses the letter table."""
    errs = chars = 0
    for xi, yi in zip(x, y):
        v = yi != PAD_T
        codes = ((xi[v, :5] > 0.5).astype(int) * (1 << np.arange(5))).sum(1)
        hyp = ""
        for c in codes:
            if c == SPACE:
                hyp += " "
            elif 1 <= c <= 26:
                hyp += LETTERS[c - 1]
        ref = to_text(yi[v])
        errs += edit_distance(hyp, ref)
        chars += len(ref)
    return errs / chars


def build(seed, lr_schedule):
    mx.random.seed(seed)
    model = TapeReader()
    opt = optim.Adam(learning_rate=lr_schedule)
    return model, opt


def main():
    t0 = time.time()
    data_rng = np.random.default_rng(7)
    xtr, ytr = make_split(1200, data_rng)
    xva, yva = make_split(200, data_rng)
    bs, epochs, ckpt_epoch = 32, 8, 4
    steps_per_epoch = len(xtr) // bs
    total = steps_per_epoch * epochs
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 1e-4)],
        [warm])

    model, opt = build(0, sched)
    grad_fn = nn.value_and_grad(model, loss_fn)
    order_rng = np.random.default_rng(11)

    print("ZCZC TAPE READER TRAINING")
    print(f"LINES {len(xtr)}/{len(xva)}  ROWS/LINE <= {MAXLEN}  VOCAB {VOCAB}  STEPS {total}")
    print(f"MODE-BLIND READER CER {100 * mode_blind_cer(xva, yva):.1f}PCT (REFERENCE, LOWER IS BETTER)")
    vl, acc, cer, ex = evaluate(model, xva, yva)
    print(f"EP 00 STEP 0000 LR {0.0:.2e} TRAIN ------ VAL {vl:.4f} ROWACC {100*acc:5.1f}PCT "
          f"CER {100*cer:5.1f}PCT EXACT {100*ex:5.1f}PCT")

    ckdir = tempfile.mkdtemp(prefix="tape_ckpt_")
    step, epoch = 0, 0
    while epoch < epochs:
        epoch += 1
        perm = order_rng.permutation(len(xtr))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            lr_now = float(opt.learning_rate) if step > 0 else float(sched(0))
            loss, grads = grad_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step == 0:
                print(f"FIRST UPDATE LR {lr_now:.1e}  LOSS {loss.item():.4f}  (LN VOCAB {np.log(VOCAB):.4f})")
            run += loss.item()
            step += 1
        if epoch in (1, 2, 4, 6, 8):
            vl, acc, cer, ex = evaluate(model, xva, yva)
            print(f"EP {epoch:02d} STEP {step:04d} LR {float(opt.learning_rate):.2e} "
                  f"TRAIN {run / steps_per_epoch:.4f} VAL {vl:.4f} ROWACC {100*acc:5.1f}PCT "
                  f"CER {100*cer:5.1f}PCT EXACT {100*ex:5.1f}PCT")
        if epoch == ckpt_epoch:
            vl_before = vl
            mx.save_safetensors(os.path.join(ckdir, "weights.safetensors"),
                                dict(tree_flatten(model.parameters())))
            mx.save_safetensors(os.path.join(ckdir, "optimizer.safetensors"),
                                dict(tree_flatten(opt.state)))
            with open(os.path.join(ckdir, "meta.json"), "w") as f:
                json.dump({"epoch": epoch, "step": step,
                           "order_rng": order_rng.bit_generator.state}, f)
            print(f"CHECKPOINT WRITTEN EP {epoch:02d} STEP {step:04d} -> {os.path.basename(ckdir)}")
            del model, opt, grad_fn, order_rng
            # fresh process state: new objects, different init seed, then restore
            model, opt = build(123, sched)
            model.load_weights(os.path.join(ckdir, "weights.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "optimizer.safetensors")).items()))
            grad_fn = nn.value_and_grad(model, loss_fn)
            with open(os.path.join(ckdir, "meta.json")) as f:
                meta = json.load(f)
            order_rng = np.random.default_rng()
            order_rng.bit_generator.state = meta["order_rng"]
            step, epoch = meta["step"], meta["epoch"]
            vl_after = evaluate(model, xva, yva)[0]
            print(f"RESUMED EP {epoch:02d} STEP {int(opt.state['step'])} LR {float(opt.learning_rate):.2e} "
                  f"VAL BEFORE {vl_before:.4f} AFTER {vl_after:.4f}")

    sample = to_text(np.array(mx.argmax(model(mx.array(xva[:1])), -1))[0][yva[0] != PAD_T])
    print(f"SAMPLE REF  {to_text(yva[0][yva[0] != PAD_T])}")
    print(f"SAMPLE READ {sample}")
    print(f"FINAL CER {100*cer:.2f}PCT EXACT {100*ex:.1f}PCT ROWACC {100*acc:.2f}PCT VAL {vl:.4f} "
          f"TIME {time.time() - t0:.1f}S")
    shutil.rmtree(ckdir, ignore_errors=True)
    print("NNNN")


if __name__ == "__main__":
    main()
