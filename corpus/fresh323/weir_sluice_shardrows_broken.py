# Tiny causal char-LM on synthetic "gauge log" lines, trained with a
# rank-sharded, length-sorted batch builder (world_size taken from the env).
import os
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx_lm.tuner.datasets import TextDataset, CacheDataset

RANK = int(os.environ.get("RANK", "0"))
WORLD = int(os.environ.get("WORLD_SIZE", "1"))


class CharTokenizer:
    def __init__(self, alphabet):
        self.itos = ["<eos>"] + sorted(set(alphabet))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.eos_token_id = 0
        self.vocab_size = len(self.itos)

    def encode(self, s):
        return [self.stoi[c] for c in s]


def make_rows(n, rng):
    sites = ["weir", "sluice", "lock", "dam", "gate"]
    rows = []
    for _ in range(n):
        site = sites[rng.integers(len(sites))]
        lvl = rng.integers(10, 99)
        flow = lvl * 3 % 97
        rows.append({"text": f"{site} level {lvl} flow {flow};"})
    return rows


def make_text_batch(items, max_seq_length):
    lens = [min(len(t), max_seq_length) for t, _ in items]
    width = max(lens)
    arr = np.zeros((len(items), width), dtype=np.int32)
    for j, (t, _) in enumerate(items):
        arr[j, : lens[j]] = t[: lens[j]]
    return mx.array(arr), mx.array(lens)


def create_sharded_text_batches(dataset, batch_size, max_seq_length, *, num_batches, seed=42):
    """Length-sorted text batches, each global batch sliced per rank."""
    if isinstance(dataset, CacheDataset):
        len_fn = lambda idx: dataset.itemlen(idx)
    else:
        len_fn = lambda idx: len(dataset[idx][0])
    idx = sorted((i for i in range(len(dataset)) if len_fn(i) >= 2), key=len_fn)
    if not idx:
        raise ValueError("text dataset has no rows with at least 2 tokens")
    global_bs = batch_size * WORLD
    batch_idx = [idx[i : i + global_bs] for i in range(0, len(idx), global_bs)]
    rng = np.random.RandomState(seed)
    out = []
    while True:
        for i in rng.permutation(len(batch_idx)):
            local = batch_idx[i][RANK * batch_size : (RANK + 1) * batch_size]
            if not local:
                continue
            out.append(make_text_batch([dataset[j] for j in local], max_seq_length))
            if len(out) >= num_batches:
                return out


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64, heads=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(64, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        z = self.ln1(h)
        h = h + self.attn(z, z, z, mask=mask)
        h = h + self.mlp(self.ln2(h))
        return self.out(h)


def loss_fn(model, batch, lengths):
    inp, tgt = batch[:, :-1], batch[:, 1:]
    logits = model(inp)
    steps = mx.arange(1, tgt.shape[1] + 1)[None, :]
    m = (steps < lengths[:, None]).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt) * m
    ntoks = m.sum()
    return ce.sum() / ntoks, ntoks


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    rows = make_rows(600, rng)
    tok = CharTokenizer("".join(r["text"] for r in rows))
    train_set = CacheDataset(TextDataset(rows[:520], tok))
    val_rows = rows[520:600]
    print(f"rank {RANK}/{WORLD}  rows={len(train_set)}  vocab={tok.vocab_size}")

    t0 = time.time()
    batches = create_sharded_text_batches(train_set, 16, 48, num_batches=300)
    print(f"built {len(batches)} batches in {time.time()-t0:.2f}s")

    model = TinyLM(tok.vocab_size)
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    val = CacheDataset(TextDataset(val_rows, tok))
    vb, vl = make_text_batch([val[i] for i in range(len(val))], 48)

    for it, (b, l) in enumerate(batches, 1):
        (loss, ntoks), grads = step_fn(model, b, l)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 25 == 0:
            vloss, _ = loss_fn(model, vb, vl)
            print(f"iter {it:4d}  train_loss {loss.item():.4f}  val_loss {vloss.item():.4f}  toks {int(ntoks.item())}")
    print("done")


if __name__ == "__main__":
    main()
