# Fine-tune a tiny character-level LM on a handful of Q/A examples,
# with an mlx-lm style length-sorted batch iterator.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

np.random.seed(0)
mx.random.seed(0)

TRAIN = [
    "Q: capital of France? A: Paris.",
    "Q: two plus two? A: four.",
    "Q: color of the sky? A: blue.",
]
VALID = ["Q: capital of Italy? A: Rome."]

chars = sorted(set("".join(TRAIN + VALID)))
stoi = {c: i + 1 for i, c in enumerate(chars)}  # 0 = pad
V = len(chars) + 1


def encode(s):
    return [stoi[c] for c in s]


def iterate_batches(dataset, batch_size, train=False):
    # Sort by length so batches need little padding
    idx = sorted(range(len(dataset)), key=lambda i: len(dataset[i]))
    # Make the batches
    batch_idx = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    while True:
        indices = np.random.permutation(len(batch_idx))
        for i in indices:
            batch = [encode(dataset[j]) for j in batch_idx[i]]
            lengths = [len(x) for x in batch]
            arr = np.zeros((len(batch), max(lengths)), np.int32)
            for j, toks in enumerate(batch):
                arr[j, : len(toks)] = toks
            arr = mx.array(arr)
            yield arr[:, :-1], arr[:, 1:], mx.array(lengths)
        if not train:
            break


class TinyLM(nn.Module):
    def __init__(self, dims=48):
        super().__init__()
        self.emb = nn.Embedding(V, dims)
        self.rnn = nn.GRU(dims, dims)
        self.out = nn.Linear(dims, V)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, inputs, targets, lengths):
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = steps[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks


model = TinyLM()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

BATCH_SIZE = 4
ITERS = 150
print(f"Training on {len(TRAIN)} examples, batch size {BATCH_SIZE}")
print(f"Starting training..., iters: {ITERS}")
tic = time.perf_counter()
for it, batch in zip(range(1, ITERS + 1), iterate_batches(TRAIN, BATCH_SIZE, train=True)):
    loss, grads = loss_and_grad(model, *batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 10 == 0:
        print(f"Iter {it}: Train loss {loss.item():.3f}, It/sec {10 / (time.perf_counter() - tic):.2f}")
        tic = time.perf_counter()
print("Finished training")
