"""Masked stitch modelling on synthetic knitting-pattern rows.

A small bidirectional transformer encoder learns to fill in stitches that were
hidden BERT-style (15% of positions: 80% [MASK], 10% random stitch, 10% kept).
The loss is taken on the selected positions only. The run stops half way,
writes a checkpoint (weights + optimizer state + step), rebuilds everything
from that checkpoint and carries on, as a preempted job would.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

PAD, MASK = 0, 1
STITCHES = ["k", "p", "yo", "k2tog", "ssk", "sl1", "m1", "kfb", "p2tog", "c4f", "c4b", "tbl"]
VOCAB = 2 + len(STITCHES)
SEQ = 24
MOTIFS = [
    [2, 3, 2, 3],
    [2, 2, 3, 3],
    [2, 4, 5, 2, 6, 2],
    [3, 7, 2, 7, 3],
    [11, 2, 2, 12, 2, 2],
    [2, 8, 9, 2, 10, 3, 13, 3],
]
SLIP = 0.05  # hand-knit slips: random stitch in place of the motif stitch

rng = np.random.default_rng(7)


def make_rows(n):
    rows = np.zeros((n, SEQ), dtype=np.int32)
    for i in range(n):
        m = MOTIFS[rng.integers(len(MOTIFS))]
        off = rng.integers(len(m))
        row = [m[(off + j) % len(m)] for j in range(SEQ)]
        row = np.array(row)
        slips = rng.random(SEQ) < SLIP
        row[slips] = rng.integers(2, VOCAB, size=slips.sum())
        rows[i] = row
    return rows


def mask_rows(rows, r):
    sel = r.random(rows.shape) < 0.15
    sel[np.arange(len(rows)), r.integers(SEQ, size=len(rows))] = True
    u = r.random(rows.shape)
    inp = rows.copy()
    inp[sel & (u < 0.8)] = MASK
    rand = sel & (u >= 0.8) & (u < 0.9)
    inp[rand] = r.integers(2, VOCAB, size=rand.sum())
    return mx.array(inp), mx.array(rows), mx.array(sel.astype(np.float32))


class StitchEncoder(nn.Module):
    def __init__(self, dims=32, heads=4, layers=1):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.enc = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        h = self.enc(h, None)
        return self.head(h)


def masked_loss(model, inp, tgt, sel):
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * sel).sum() / sel.sum()


def masked_acc(model, inp, tgt, sel):
    pred = mx.argmax(model(inp), axis=-1)
    return ((pred == tgt) * sel).sum() / sel.sum()


PEAK, WARM, TOTAL, BATCH, HALF = 5e-3, 50, 400, 32, 200


def build():
    model = StitchEncoder()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-4)],
        [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return model, opt


def run(model, opt, start, stop, data_rng, val, base_acc):
    step_fn = nn.value_and_grad(model, masked_loss)
    for step in range(start, stop):
        inp, tgt, sel = mask_rows(make_rows(BATCH), data_rng)
        model.train()
        loss, grads = step_fn(model, inp, tgt, sel)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == stop - 1:
            model.eval()
            acc = masked_acc(model, *val).item()
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  masked-ce {loss.item():.3f}  "
                  f"val masked-acc {acc:.3f} (unigram baseline {base_acc:.3f})")


def main():
    t0 = time.time()
    mx.random.seed(0)
    train_pool = make_rows(4000)
    counts = np.bincount(train_pool.ravel(), minlength=VOCAB)
    top = int(counts.argmax())
    val_rows = make_rows(512)
    val = mask_rows(val_rows, np.random.default_rng(123))
    base_acc = float(((np.array(val[1]) == top) * np.array(val[2])).sum() / np.array(val[2]).sum())
    ceiling = 1 - SLIP * (1 - 1 / len(STITCHES))
    print(f"vocab {VOCAB}  seq {SEQ}  motifs {len(MOTIFS)}  slip rate {SLIP}  "
          f"(approx. accuracy ceiling {ceiling:.3f})")

    model, opt = build()
    data_rng = np.random.default_rng(1)
    run(model, opt, 0, HALF, data_rng, val, base_acc)

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "weights.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"-- checkpoint written at step {HALF}; restarting process state --")
        del model, opt
        model, opt = build()
        model.load_weights(os.path.join(d, "weights.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        print(f"resumed: optimizer step {int(opt.state['step'].item())}, "
              f"lr {opt.learning_rate.item():.2e}")

    run(model, opt, HALF, TOTAL, data_rng, val, base_acc)
    model.eval()
    final = masked_acc(model, *val).item()
    print(f"final val masked-acc {final:.3f}  vs unigram baseline {base_acc:.3f}  "
          f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
