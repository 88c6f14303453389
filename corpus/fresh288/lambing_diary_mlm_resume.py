"""Shepherd's lambing diaries: masked-token pre-training, then a cull call.

Each ewe's season is a variable-length diary of event tokens (scanned twins,
assisted birth, mastitis, ...).  Stage A pre-trains a tiny self-attention
encoder with a masked-token objective on unlabelled diaries (15% of real
events masked, [CLS] and padding never masked, loss on masked slots only).
Halfway through stage A the run writes a safetensors checkpoint, drops the
model and optimizer, and resumes from the file (the optimizer starts fresh).
Stage B puts a 2-way head on [CLS] for "culled at weaning" with the encoder
frozen for the first 60 steps, then unfrozen at a lower rate.  Batches are
padded per batch to a multiple of 8 with a boolean key-padding mask.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

EVENTS = ["tup_in", "tup_out", "scan_single", "scan_twin", "scan_triplet",
          "scan_empty", "drench", "shear", "lamb_unassisted", "lamb_assisted",
          "lamb_dead", "mastitis", "foot_rot", "prolapse", "fostered",
          "crutched", "vaccinated", "weaned"]
PAD, CLS, MASK = 0, 1, 2
OFF = 3
VOCAB = OFF + len(EVENTS)
E = {e: i + OFF for i, e in enumerate(EVENTS)}
rng = np.random.default_rng(11)


def diary():
    ev = ["tup_in", "tup_out", "vaccinated"]
    scan = rng.choice(["scan_single", "scan_twin", "scan_triplet", "scan_empty"],
                      p=[0.4, 0.45, 0.08, 0.07])
    ev.append(scan)
    n_lambs = {"scan_single": 1, "scan_twin": 2, "scan_triplet": 3, "scan_empty": 0}[scan]
    hard = rng.random() < 0.25
    for _ in range(n_lambs):
        ev.append("lamb_assisted" if (hard and rng.random() < 0.7) or rng.random() < 0.1
                  else "lamb_unassisted")
        if rng.random() < 0.06:
            ev.append("lamb_dead")
    if n_lambs == 3 and rng.random() < 0.6:
        ev.append("fostered")
    for extra in ["drench", "shear", "crutched"]:
        if rng.random() < 0.7:
            ev.append(extra)
    if rng.random() < 0.12:
        ev.append("mastitis")
    if rng.random() < 0.15:
        ev += ["foot_rot"] * int(rng.integers(1, 3))
    if rng.random() < 0.04:
        ev.append("prolapse")
    ev.append("weaned")
    head, tail = ev[:4], ev[4:-1]
    rng.shuffle(tail)
    ev = head + tail + ["weaned"]
    culled = ("mastitis" in ev or "prolapse" in ev or scan == "scan_empty"
              or ev.count("lamb_assisted") >= 2 or ev.count("foot_rot") >= 2)
    if rng.random() < 0.05:
        culled = not culled          # shepherd's judgement call
    return [CLS] + [E[e] for e in ev], int(culled)


def pad_batch(seqs):
    L = max(len(s) for s in seqs)
    L = ((L + 7) // 8) * 8
    arr = np.full((len(seqs), L), PAD, dtype=np.int32)
    for i, s in enumerate(seqs):
        arr[i, : len(s)] = s
    return arr


def mask_tokens(arr, p=0.15):
    real = (arr >= OFF)
    pick = real & (rng.random(arr.shape) < p)
    inp = arr.copy()
    r = rng.random(arr.shape)
    inp[pick & (r < 0.8)] = MASK
    swap = pick & (r >= 0.8) & (r < 0.9)
    inp[swap] = rng.integers(OFF, VOCAB, size=int(swap.sum()))
    return inp, pick


class DiaryEncoder(nn.Module):
    def __init__(self, dims=24, heads=2, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.ff = nn.Sequential(nn.Linear(dims, 2 * dims), nn.GELU(), nn.Linear(2 * dims, dims))
        self.mlm_head = nn.Linear(dims, VOCAB)
        self.cls_head = nn.Linear(dims, 2)

    def encode(self, x):
        keep = (x != PAD)[:, None, None, :]          # True = may attend
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        a = self.ln1(h)
        h = h + self.attn(a, a, a, mask=keep)
        return h + self.ff(self.ln2(h))


def mlm_loss(model, inp, tgt, pick):
    logits = model.mlm_head(model.encode(inp))
    ce = nn.losses.cross_entropy(logits, tgt)
    return (ce * pick).sum() / mx.maximum(pick.sum(), 1)


def cls_loss(model, x, y):
    logits = model.cls_head(model.encode(x)[:, 0])
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def mlm_eval(model, seqs):
    arr = pad_batch(seqs)
    inp, pick = mask_tokens(arr)
    logits = model.mlm_head(model.encode(mx.array(inp)))
    pred = np.array(mx.argmax(logits, axis=-1))
    return float((pred == arr)[pick].mean())


def main():
    t0 = time.time()
    unlabelled = [diary()[0] for _ in range(6000)]
    labelled = [diary() for _ in range(1400)]
    train_l, val_l = labelled[:1000], labelled[1000:]
    held = [diary()[0] for _ in range(300)]
    counts = np.bincount(np.concatenate([np.array(s[1:]) for s in unlabelled]), minlength=VOCAB)
    unigram_acc = counts.max() / counts.sum()
    print(f"diaries: {len(unlabelled)} unlabelled, {len(train_l)}/{len(val_l)} labelled; "
          f"vocab {VOCAB}; cull rate {np.mean([y for _, y in labelled]):.2f}")

    mx.random.seed(0)
    model = DiaryEncoder()
    ckpt = os.path.join(tempfile.mkdtemp(), "diary_encoder.safetensors")
    bs = 48

    def stage_a(model, steps, first):
        opt = optim.Adam(learning_rate=optim.linear_schedule(3e-4, 3e-3, 20))
        step = nn.value_and_grad(model, mlm_loss)
        run = 0.0
        for i in range(1, steps + 1):
            idx = rng.integers(0, len(unlabelled), bs)
            arr = pad_batch([unlabelled[j] for j in idx])
            inp, pick = mask_tokens(arr)
            loss, g = step(model, mx.array(inp), mx.array(arr), mx.array(pick.astype(np.float32)))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            run += loss.item()
            if i % 50 == 0:
                print(f"  A{first + i:4d} masked-token loss {run / 50:.3f}")
                run = 0.0

    print("stage A: masked-token pre-training")
    stage_a(model, 150, 0)
    print(f"  masked-token acc {mlm_eval(model, held):.3f} "
          f"(unigram baseline {unigram_acc:.3f})")
    model.save_weights(ckpt)
    print(f"  checkpoint written: {os.path.basename(ckpt)} "
          f"({len(tree_flatten(model.parameters()))} tensors)")
    del model
    model = DiaryEncoder()
    model.load_weights(ckpt)
    mx.eval(model.parameters())
    print(f"  resumed; masked-token acc {mlm_eval(model, held):.3f}")
    stage_a(model, 150, 150)
    print(f"  masked-token acc {mlm_eval(model, held):.3f} "
          f"(unigram baseline {unigram_acc:.3f})")

    print("stage B: cull call from [CLS]")
    major = max(np.mean([y for _, y in val_l]), 1 - np.mean([y for _, y in val_l]))
    vx = mx.array(pad_batch([s for s, _ in val_l]))
    vy = np.array([y for _, y in val_l])
    step = nn.value_and_grad(model, cls_loss)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    run = 0.0
    for i in range(1, 241):
        if i == 1:
            model.freeze()
            model.cls_head.unfreeze()
            print("  encoder frozen, head only")
        if i == 61:
            model.unfreeze()
            model.mlm_head.freeze()
            opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
            print("  encoder unfrozen, lr 1e-3")
        idx = rng.integers(0, len(train_l), bs)
        x = mx.array(pad_batch([train_l[j][0] for j in idx]))
        y = mx.array([train_l[j][1] for j in idx])
        loss, g = step(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run += loss.item()
        if i % 60 == 0:
            pred = np.array(mx.argmax(model.cls_head(model.encode(vx)[:, 0]), axis=-1))
            print(f"  B{i:4d} loss {run / 60:.3f}  val acc {np.mean(pred == vy):.3f} "
                  f"(majority {major:.3f}, label noise 5%)")
            run = 0.0
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
