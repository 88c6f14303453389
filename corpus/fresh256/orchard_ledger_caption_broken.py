"""Tiny image-to-caption LoRA-style fine-tune for orchard crate snapshots.

A small vision lead-in (patch projector) feeds a causal text decoder that
writes a 3-word crate label: colour, fruit, fill level.
"""
import argparse
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

COLOURS = ["red", "green", "yellow", "purple"]
FRUITS = ["apple", "pear", "plum", "quince"]
FILLS = ["full", "half"]
VOCAB = ["<pad>", "<bos>", "<eos>"] + COLOURS + FRUITS + FILLS
TOK = {w: i for i, w in enumerate(VOCAB)}
RGB = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.8, 0.2),
       "yellow": (0.9, 0.85, 0.1), "purple": (0.5, 0.1, 0.6)}


class Rows:
    """Minimal table with the select/map calls a hub dataset offers."""

    def __init__(self, rows):
        self.rows = list(rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def select(self, indices):
        out = []
        for i in indices:
            if i < 0 or i >= len(self.rows):
                raise IndexError(f"Index {i} out of range for dataset of size {len(self.rows)}.")
            out.append(self.rows[i])
        return Rows(out)

    def map(self, fn):
        return Rows(fn(r) for r in self.rows)


def crate_photo(rng, colour, fruit, fill):
    img = np.zeros((8, 8, 3), dtype=np.float32)
    shape = np.zeros((8, 8), dtype=np.float32)
    if fruit == "apple":
        yy, xx = np.mgrid[:8, :8]
        shape = (((yy - 3.5) ** 2 + (xx - 3.5) ** 2) < 9).astype(np.float32)
    elif fruit == "pear":
        shape[2:8, 2:6] = 1.0
        shape[0:2, 3:5] = 1.0
    elif fruit == "plum":
        shape[::2, ::2] = 1.0
    else:
        shape[np.arange(8), np.arange(8)] = 1.0
        shape[np.arange(8), 7 - np.arange(8)] = 1.0
    if fill == "half":
        shape[:4] *= 0.25
    img += shape[..., None] * np.array(RGB[colour], dtype=np.float32)
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    return img


def load_crates(n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        c, f, l = rng.choice(COLOURS), rng.choice(FRUITS), rng.choice(FILLS)
        rows.append({"image": crate_photo(rng, c, f, l), "question": "Describe the crate.",
                     "answer": f"{c} {f} {l}"})
    return Rows(rows)


def transform_dataset_to_messages(dataset):
    def to_msg(r):
        return {"image": r["image"], "messages": [
            {"role": "user", "content": r["question"]},
            {"role": "assistant", "content": r["answer"]}]}
    return dataset.map(to_msg)


class VisionDataset:
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        r = self.dataset[i]
        words = r["messages"][1]["content"].split()
        ids = [TOK["<bos>"]] + [TOK[w] for w in words] + [TOK["<eos>"]]
        patches = r["image"].reshape(4, 2, 4, 2, 3).transpose(0, 2, 1, 3, 4).reshape(16, 12)
        return patches, np.array(ids, dtype=np.int32)


class CaptionModel(nn.Module):
    def __init__(self, dims=64, heads=4, layers=2):
        super().__init__()
        self.patch_proj = nn.Linear(12, dims)
        self.patch_pos = mx.random.normal((16, dims)) * 0.02
        self.tok_emb = nn.Embedding(len(VOCAB), dims)
        self.tok_pos = mx.random.normal((8, dims)) * 0.02
        self.decoder = nn.TransformerEncoder(layers, dims, heads, mlp_dims=128)
        self.lm_head = nn.Linear(dims, len(VOCAB))

    def __call__(self, patches, tokens):
        v = self.patch_proj(patches) + self.patch_pos
        t = self.tok_emb(tokens) + self.tok_pos[: tokens.shape[1]]
        x = mx.concatenate([v, t], axis=1)
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.decoder(x, mask)
        return self.lm_head(h[:, 16:])


def iterate_batches(dataset, batch_size, train=False):
    idx = np.arange(len(dataset))
    while True:
        if train:
            np.random.shuffle(idx)
        for s in range(0, len(idx) - batch_size + 1, batch_size):
            items = [dataset[int(j)] for j in idx[s:s + batch_size]]
            yield mx.array(np.stack([p for p, _ in items])), mx.array(np.stack([t for _, t in items]))
        if not train:
            break


def loss_fn(model, patches, ids):
    logits = model(patches, ids[:, :-1])
    return nn.losses.cross_entropy(logits, ids[:, 1:], reduction="mean")


def caption_accuracy(model, dataset):
    hits, total, exact, n = 0, 0, 0, 0
    for patches, ids in iterate_batches(dataset, 20):
        tokens = ids[:, :1]
        for _ in range(3):
            nxt = mx.argmax(model(patches, tokens)[:, -1], axis=-1)
            tokens = mx.concatenate([tokens, nxt[:, None]], axis=1)
        pred = np.array(tokens[:, 1:4])
        gold = np.array(ids[:, 1:4])
        hits += int((pred == gold).sum())
        total += pred.size
        exact += int((pred == gold).all(axis=1).sum())
        n += pred.shape[0]
    return hits / total, exact / n


def main(args):
    np.random.seed(0)
    mx.random.seed(0)
    print("Loading dataset orchard-crates (train split)")
    dataset = load_crates(240, seed=1)
    held_out = VisionDataset(transform_dataset_to_messages(load_crates(80, seed=2)))
    print(f"  rows: {len(dataset)}")

    if args.epochs is not None:
        iters = (len(dataset) // args.batch_size) * args.epochs
    else:
        iters = args.iters

    dataset = dataset.select(range(iters))

    dataset = transform_dataset_to_messages(dataset)
    train_dataset = VisionDataset(dataset)

    model = CaptionModel()
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_params / 1e3:.1f}K")
    optimizer = optim.Adam(learning_rate=args.learning_rate)
    step_fn = nn.value_and_grad(model, loss_fn)

    acc0, ex0 = caption_accuracy(model, held_out)
    print(f"Before training: word acc {acc0:.3f}, exact {ex0:.3f}")
    print(f"Training for {iters} iterations (batch {args.batch_size}, {args.epochs} epochs)")
    tic, run = time.perf_counter(), 0.0
    for it, (patches, ids) in zip(range(1, iters + 1), iterate_batches(train_dataset, args.batch_size, train=True)):
        loss, grads = step_fn(model, patches, ids)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        run += loss.item()
        if it % args.steps_per_report == 0:
            el = time.perf_counter() - tic
            print(f"Iter {it}: Train loss {run / args.steps_per_report:.3f}, "
                  f"It/sec {args.steps_per_report / el:.2f}")
            run, tic = 0.0, time.perf_counter()

    acc, ex = caption_accuracy(model, held_out)
    print(f"Held-out crates: word acc {acc:.3f}, exact caption {ex:.3f}")
    print("Training completed.")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--steps-per-report", type=int, default=30)
    main(p.parse_args())
