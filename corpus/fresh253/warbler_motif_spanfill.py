"""Span-infilling pretraining on synthetic warbler songs.

Each song repeats a short motif of syllables with occasional ornament
syllables.  A tiny bidirectional encoder learns to fill masked spans.
Span length grows by stage (1 -> 2 -> 3 syllables), so the masked loss
jumps at every stage switch.  The run checkpoints after stage 2 and the
last stage resumes from disk into a freshly built model and optimizer.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PAD, MASK = 0, 1
N_SYL = 20
VOCAB = 2 + N_SYL
L = 18
STAGES = [(1, 40), (2, 40), (3, 40)]  # (span length, steps)
BATCH = 32


def song(rng):
    k = rng.integers(3, 5)
    motif = rng.choice(N_SYL, size=k, replace=False) + 2
    out = [motif[i % k] for i in range(L)]
    for j in range(L):
        if rng.random() < 0.05:
            out[j] = rng.integers(2, VOCAB)
    return np.array(out, dtype=np.int32)


def mask_spans(x, span, rng, n_spans=2):
    ids, labels = x.copy(), np.full_like(x, -1)
    for b in range(x.shape[0]):
        for _ in range(n_spans):
            s = rng.integers(0, L - span + 1)
            labels[b, s:s + span] = x[b, s:s + span]
            ids[b, s:s + span] = MASK
    return ids, labels


class SpanFiller(nn.Module):
    def __init__(self, dim=48, heads=4, layers=2):
        super().__init__()
        self.syl = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(L, dim)
        self.enc = nn.TransformerEncoder(layers, dim, heads, mlp_dims=2 * dim, norm_first=True)
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, ids):
        h = self.syl(ids) + self.pos(mx.arange(ids.shape[1]))
        return self.out(self.enc(h, None))


def masked_ce(model, ids, labels):
    logits = model(ids)
    keep = labels >= 0
    ce = nn.losses.cross_entropy(logits, mx.maximum(labels, 0), reduction="none")
    return (ce * keep).sum() / keep.sum()


def evaluate(model, songs, span, seed):
    ids, labels = mask_spans(songs, span, np.random.default_rng(seed))
    ids, labels = mx.array(ids), mx.array(labels)
    logits = model(ids)
    keep = labels >= 0
    acc = ((logits.argmax(-1) == labels) & keep).sum() / keep.sum()
    return masked_ce(model, ids, labels).item(), acc.item()


def make_opt():
    warm = optim.linear_schedule(0.0, 3e-3, 15)
    decay = optim.cosine_decay(3e-3, 105, end=3e-4)
    return optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [15]), weight_decay=0.0)


def run_stage(model, opt, train, span, steps, rng, step0):
    grad_fn = nn.value_and_grad(model, masked_ce)
    for i in range(steps):
        idx = rng.integers(0, len(train), size=BATCH)
        ids, labels = mask_spans(train[idx], span, rng)
        loss, grads = grad_fn(model, mx.array(ids), mx.array(labels))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step = step0 + i + 1
        if step % 10 == 0 or step == step0 + 1:
            lr = opt.learning_rate.item()
            print(f"  step {step:3d}  span {span}  loss {loss.item():.4f}  lr {lr:.2e}")
    return step0 + steps


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    train = np.stack([song(rng) for _ in range(1500)])
    valid = np.stack([song(rng) for _ in range(200)])
    counts = np.bincount(train.ravel(), minlength=VOCAB)
    print(f"songs {len(train)} train / {len(valid)} valid  syllables {N_SYL}  "
          f"unigram baseline acc {counts.max() / counts.sum():.3f}")

    model = SpanFiller()
    opt = make_opt()
    ckpt = os.path.join(tempfile.mkdtemp(), "warbler")
    step = 0
    for si, (span, steps) in enumerate(STAGES):
        if si == 2:
            model = SpanFiller()
            model.load_weights(ckpt + "_model.safetensors")
            opt = make_opt()
            opt.init(model.trainable_parameters())
            st = mx.load(ckpt + "_opt.safetensors")
            opt.state = tree_unflatten(list(st.items()))
            print(f"resumed from checkpoint at step {int(opt.state['step'].item())}")
        print(f"stage {si + 1}: span length {span}")
        step = run_stage(model, opt, train, span, steps, rng, step)
        for s in (1, 2, 3):
            vl, va = evaluate(model, valid, s, 100 + s)
            print(f"  eval span {s}: loss {vl:.4f}  acc {va:.3f}")
        if si == 1:
            model.save_weights(ckpt + "_model.safetensors")
            mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
            print(f"checkpoint written at step {step}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
