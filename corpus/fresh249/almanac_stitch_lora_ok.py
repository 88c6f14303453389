"""Fine-tune a tiny causal LM on two almanac corpora merged into one collection.

Each corpus is a list of token sequences (weather-line templates); the trainer
stitches them together and walks batches the way mlx_lm's tuner does.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 48
EOS = 1


class TokenDataset:
    def __init__(self, rows):
        self._data = [list(r) + [EOS] for r in rows]

    def __getitem__(self, idx: int):
        return self._data[idx]

    def __len__(self):
        return len(self._data)


class CompletionsDatasetCollection:
    def __init__(self, data):
        self.collection = data

    def __getitem__(self, idx: int):
        iteration = iter(self.collection)
        item = next(iteration)

        curr_idx = idx

        while True:
            try:
                if (curr_idx + 1) <= len(item):
                    return item[curr_idx]
                else:
                    curr_idx -= len(item)
                    item = next(iteration)
            except StopIteration:
                raise IndexError(idx)

    def __len__(self):
        return sum(map(len, self.collection))


def make_corpus(rng, n, start, step):
    rows = []
    for _ in range(n):
        length = int(rng.integers(6, 14))
        first = int(rng.integers(2, VOCAB))
        seq = [start]
        for k in range(length):
            seq.append(2 + (first - 2 + step * k) % (VOCAB - 2))
        rows.append(seq)
    return rows


def iterate_batches(dataset, batch_size, max_seq_length, train=False):
    idx = sorted(range(len(dataset)), key=lambda idx: len(dataset[idx]))
    if len(dataset) < batch_size:
        raise ValueError(
            f"Dataset must have at least batch_size={batch_size}"
            f" examples but only has {len(dataset)}."
        )
    batch_idx = [
        idx[i : i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)
    ]
    while True:
        indices = np.random.permutation(len(batch_idx))
        for i in indices:
            batch = [dataset[j] for j in batch_idx[i]]
            lengths = [len(x) for x in batch]
            pad_to = 8
            max_length_in_batch = pad_to * ((max(lengths) + pad_to - 1) // pad_to)
            max_length_in_batch = min(max_length_in_batch, max_seq_length)
            batch_arr = np.zeros((batch_size, max_length_in_batch), np.int32)
            for j in range(batch_size):
                truncated_length = min(lengths[j], max_seq_length)
                batch_arr[j, :truncated_length] = batch[j][:truncated_length]
                lengths[j] = truncated_length
            batch = mx.array(batch_arr)
            yield batch[:, :-1], batch[:, 1:], mx.array(lengths)
        if not train:
            break


class TinyLM(nn.Module):
    def __init__(self, dims=64, layers=2, heads=4):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(32, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.blocks(h, mask))


def loss_fn(model, inputs, targets, lengths):
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = steps[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def evaluate(model, dataset, batch_size, max_seq_length):
    total, ntok = 0.0, 0
    for inputs, targets, lengths in iterate_batches(dataset, batch_size, max_seq_length):
        loss, n = loss_fn(model, inputs, targets, lengths)
        total += loss.item() * n.item()
        ntok += n.item()
    return total / ntok


def main():
    np.random.seed(0)
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    train_set = CompletionsDatasetCollection(
        [TokenDataset(make_corpus(rng, 120, 2, 3)), TokenDataset(make_corpus(rng, 90, 3, 5))]
    )
    valid_set = CompletionsDatasetCollection(
        [TokenDataset(make_corpus(rng, 24, 2, 3)), TokenDataset(make_corpus(rng, 24, 3, 5))]
    )
    print(f"train examples: {len(train_set)}  valid examples: {len(valid_set)}")

    model = TinyLM()
    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    iters, batch_size, max_seq = 300, 8, 24
    print(f"Starting training..., iters: {iters}")
    tic = time.perf_counter()
    losses, toks = [], 0
    for it, (inputs, targets, lengths) in zip(
        range(1, iters + 1), iterate_batches(train_set, batch_size, max_seq, train=True)
    ):
        (loss, ntoks), grads = loss_and_grad(model, inputs, targets, lengths)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        toks += ntoks.item()
        if it % 25 == 0:
            elapsed = time.perf_counter() - tic
            print(
                f"Iter {it}: Train loss {np.mean(losses):.3f}, "
                f"Tokens/sec {toks / elapsed:.1f}, Trained Tokens {toks}"
            )
            losses = []
        if it % 100 == 0:
            val = evaluate(model, valid_set, batch_size, max_seq)
            print(f"Iter {it}: Val loss {val:.3f}, Val ppl {np.exp(val):.2f}")
    print(f"Final val loss {evaluate(model, valid_set, batch_size, max_seq):.3f}")


if __name__ == "__main__":
    main()
