"""Packed supervised fine-tuning of a tiny causal LM on cooperage work orders.

Prompts are stave specs (tokens), responses are the cut numbers, counting up
from the first stave id plus three.  Sequences are packed first-fit into constant-width rows, attention is
block-diagonal per packed segment, loss only over response tokens.
Two stages: mixed orders, then a short polish on long barrel orders.
"""
import itertools
import math
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

_OPEN_POOL = 8


class PackingError(ValueError):
    pass


def pack_indices(lengths: Sequence[int], pack_len: int, *, seed: int, epoch: int) -> list[list[int]]:
    if pack_len < 1:
        raise PackingError(f"pack_len must be >= 1; got {pack_len}")
    if not lengths:
        raise PackingError("cannot pack an empty dataset")
    if any(n < 1 for n in lengths):
        raise PackingError("zero-length sequence in dataset")
    order = list(range(len(lengths)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    capacity = pack_len + 1
    packs: list[list[int]] = []
    room: list[int] = []
    open_packs: list[int] = []
    for i in order:
        cost = min(lengths[i], pack_len) + 1
        for j in open_packs:
            if room[j] >= cost:
                packs[j].append(i)
                room[j] -= cost
                if room[j] <= 1:
                    open_packs.remove(j)
                break
        else:
            packs.append([i])
            room.append(capacity - cost)
            open_packs.append(len(packs) - 1)
            if len(open_packs) > _OPEN_POOL:
                open_packs.pop(0)
    return packs


def build_row(entries, pack_len):
    row = [0] * (pack_len + 1)
    seg_id = [0] * pack_len
    seg_start = [0] * pack_len
    loss_mask = [False] * pack_len
    cursor = 0
    for seg, (tokens, offset) in enumerate(entries):
        t0 = cursor
        seg_len = len(tokens)
        pad_pos = t0 + seg_len
        row[t0:pad_pos] = tokens
        span_end = min(pad_pos, pack_len - 1)
        for pos in range(t0, span_end + 1):
            seg_id[pos] = seg
            seg_start[pos] = t0
        lo = t0 + max(offset, 1) - 1
        hi = t0 + seg_len - 1
        for pos in range(lo, hi + 1):
            loss_mask[pos] = True
        cursor = pad_pos + 1
    tail_seg = len(entries)
    for pos in range(cursor, pack_len):
        seg_id[pos] = tail_seg
        seg_start[pos] = cursor
    return row, seg_id, seg_start, loss_mask


def packed_iterate_batches(
    dataset: Any,
    batch_size: int,
    max_seq_length: int,
    loop: bool = False,
    seed: int | None = None,
) -> Iterator[tuple[mx.array, mx.array, mx.array, mx.array]]:
    items: list[tuple[list[int], int]] = []
    for j in range(len(dataset)):
        entry = dataset[j]
        if isinstance(entry, tuple) and len(entry) == 2:
            tokens, offset = entry
        else:
            tokens, offset = entry, 0
        items.append((list(tokens), int(offset)))
    items = [(tokens[:max_seq_length], offset) for tokens, offset in items]
    lengths = [len(tokens) for tokens, _ in items]

    base_seed = seed or 0
    epoch = 0
    while True:
        packs = pack_indices(lengths, max_seq_length, seed=base_seed, epoch=epoch)
        num_batches = len(packs) // batch_size
        for b in range(num_batches):
            batch_packs = packs[b * batch_size : (b + 1) * batch_size]
            rows, seg_ids, seg_starts, loss_masks = [], [], [], []
            for pack in batch_packs:
                entries = [items[i] for i in pack]
                row, seg_id, seg_start, loss_mask = build_row(entries, max_seq_length)
                rows.append(row)
                seg_ids.append(seg_id)
                seg_starts.append(seg_start)
                loss_masks.append(loss_mask)
            yield (
                mx.array(np.array(rows, dtype=np.int32)),
                mx.array(np.array(seg_ids, dtype=np.int32)),
                mx.array(np.array(seg_starts, dtype=np.int32)),
                mx.array(np.array(loss_masks, dtype=bool)),
            )
        epoch += 1
        if not loop:
            break


# ---------------------------------------------------------------- data
VOCAB = 48
SEP = 1
BASE = 4  # stave ids live in [BASE, VOCAB)


def make_orders(n, lo, hi, rng):
    out = []
    for _ in range(n):
        k = int(rng.integers(lo, hi + 1))
        staves = rng.integers(BASE, VOCAB, size=k).tolist()
        answer = [BASE + ((staves[0] - BASE + 3 + j) % (VOCAB - BASE)) for j in range(k)]
        tokens = [2] + staves + [SEP] + answer
        out.append((tokens, len(staves) + 2))
    return out


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab, d=48, heads=4, layers=2, max_len=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, x, seg_id, seg_start):
        L = x.shape[1]
        pos = mx.arange(L)[None, :] - seg_start
        h = self.tok(x) + self.pos(pos)
        causal = mx.arange(L)[:, None] >= mx.arange(L)[None, :]
        same = seg_id[:, :, None] == seg_id[:, None, :]
        allowed = mx.logical_and(causal[None], same)
        mask = mx.where(allowed, 0.0, -1e9)[:, None, :, :]
        for blk in self.blocks:
            h = blk(h, mask)
        return self.head(self.ln(h))


def loss_fn(model, batch, seg_id, seg_start, loss_mask):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs, seg_id, seg_start)
    ce = nn.losses.cross_entropy(logits, targets) * loss_mask
    ntoks = loss_mask.sum()
    return ce.sum() / mx.maximum(ntoks, 1), ntoks


def open_stream(dataset, batch_size, max_len, seed):
    while True:
        it = packed_iterate_batches(dataset, batch_size, max_len, loop=True, seed=seed)
        try:
            first = next(it)
        except PackingError as e:
            print(f"  packing: {e}")
            batch_size //= 2
            if batch_size < 1:
                raise
            print(f"  retrying with batch_size={batch_size}")
            continue
        return batch_size, itertools.chain([first], it)


def exact_match(model, orders):
    hits = 0
    for tokens, offset in orders:
        seq = tokens[:offset]
        target = tokens[offset:]
        for _ in range(len(target)):
            x = mx.array([seq])
            L = len(seq)
            logits = model(x, mx.zeros((1, L), dtype=mx.int32), mx.zeros((1, L), dtype=mx.int32))
            seq.append(int(mx.argmax(logits[0, -1]).item()))
        hits += int(seq[offset:] == target)
    return hits / len(orders)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    max_len = 28
    stages = [
        ("mixed orders", make_orders(800, 3, 12, rng), make_orders(40, 3, 12, rng), 8, 160, 3e-3),
        ("barrel orders", make_orders(6, 10, 12, rng), make_orders(20, 10, 12, rng), 8, 30, 5e-5),
    ]
    model = TinyLM(VOCAB, max_len=max_len + 1)
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for name, train, held, bs, steps, lr in stages:
        print(f"stage '{name}': {len(train)} train orders, requested batch_size={bs}")
        bs, stream = open_stream(train, bs, max_len, seed=7)
        opt = optim.AdamW(learning_rate=optim.cosine_decay(lr, steps, lr / 30), weight_decay=0.01)
        for step in range(1, steps + 1):
            batch, seg_id, seg_start, loss_mask = next(stream)
            (loss, ntoks), grads = step_fn(model, batch, seg_id, seg_start, loss_mask)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step % 40 == 0 or step in (1, steps):
                print(f"  step {step:4d}  loss {loss.item():.4f}  tokens {int(ntoks.item()):4d}  "
                      f"bs {bs}  {time.time() - t0:5.1f}s")
        em = exact_match(model, held)
        print(f"  held-out exact match: {em:.3f}")
    print("done")


if __name__ == "__main__":
    main()
