"""Tiny char-level LM fine-tune with a trainer-style evaluate() (val_batches=-1 = whole val set)."""
import time
from dataclasses import dataclass, field

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a stitch in time saves nine. "
    "all that glitters is not gold. "
    "the early bird catches the worm. "
)
VOCAB = sorted(set(TEXT))
STOI = {c: i for i, c in enumerate(VOCAB)}


@dataclass
class TrainingArgs:
    batch_size: int = field(default=4, metadata={"help": "Minibatch size."})
    iters: int = field(default=400, metadata={"help": "Iterations to train for."})
    val_batches: int = field(
        default=-1,
        metadata={"help": "Number of validation batches, -1 uses the entire validation set."},
    )
    steps_per_report: int = 50
    steps_per_eval: int = 100
    max_seq_length: int = 48


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.rnn = nn.GRU(dims, dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        return self.head(self.rnn(self.embed(x)))


def make_dataset(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start = int(rng.integers(0, len(TEXT) - 40))
        length = int(rng.integers(16, 40))
        out.append([STOI[c] for c in TEXT[start : start + length]])
    return out


def default_loss(model, inputs, targets, lengths):
    logits = model(inputs).astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks


def iterate_batches(dataset, batch_size, max_seq_length, train=False):
    idx = sorted(range(len(dataset)), key=lambda i: len(dataset[i]))
    batch_idx = [idx[i : i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]
    while True:
        for i in np.random.permutation(len(batch_idx)):
            batch = [dataset[j] for j in batch_idx[i]]
            lengths = [min(len(x), max_seq_length) for x in batch]
            pad_to = 8
            width = min(pad_to * ((max(lengths) + pad_to - 1) // pad_to), max_seq_length)
            arr = np.zeros((batch_size, width), np.int32)
            for j in range(batch_size):
                arr[j, : lengths[j]] = batch[j][: lengths[j]]
            arr = mx.array(arr)
            yield arr[:, :-1], arr[:, 1:], mx.array(lengths) - 1
        if not train:
            break


def evaluate(model, dataset, batch_size, num_batches, max_seq_length):
    all_losses = []
    ntokens = 0
    for it, batch in zip(
        range(num_batches),
        iterate_batches(dataset, batch_size, max_seq_length),
    ):
        losses, toks = default_loss(model, *batch)
        all_losses.append((losses * toks).item())
        ntokens += toks.item()
    return np.sum(all_losses) / ntokens


def train(model, optimizer, train_set, val_set, args):
    loss_value_and_grad = nn.value_and_grad(model, default_loss)
    losses, n_tokens = [], 0
    tic = time.perf_counter()
    for it, batch in zip(
        range(1, args.iters + 1),
        iterate_batches(train_set, args.batch_size, args.max_seq_length, train=True),
    ):
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            stop = time.perf_counter()
            val_loss = evaluate(model, val_set, args.batch_size, args.val_batches, args.max_seq_length)
            print(f"Iter {it}: Val loss {val_loss:.3f}, Val took {time.perf_counter() - stop:.3f}s")
        (lvalue, toks), grad = loss_value_and_grad(model, *batch)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, lvalue)
        losses.append(lvalue.item())
        n_tokens += toks.item()
        if it % args.steps_per_report == 0:
            dt = time.perf_counter() - tic
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, It/sec {args.steps_per_report / dt:.2f}, Tokens/sec {n_tokens / dt:.1f}")
            losses, n_tokens = [], 0
            tic = time.perf_counter()


if __name__ == "__main__":
    np.random.seed(0)
    mx.random.seed(0)
    args = TrainingArgs()
    model = TinyLM(len(VOCAB))
    optimizer = optim.Adam(learning_rate=1e-2)
    train(model, optimizer, make_dataset(64, 1), make_dataset(24, 2), args)
