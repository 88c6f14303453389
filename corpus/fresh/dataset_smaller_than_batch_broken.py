"""Tiny chat-style fine-tune with the batch iterator copied from mlx_lm's tuner (spring 2024).

Reproduces the hang fixed in ml-explore/mlx-examples#680 ("error for datasets < batch_size"):
with fewer training examples than --batch-size, iterate_batches builds no batch at all and its
`while True` loop spins forever, so training never prints its first iteration. The fix raises
"Dataset must have at least batch_size examples"; the user-side fix is a batch size that fits.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

TRAIN = [
    "Q: capital of France? A: Paris.",
    "Q: capital of Italy? A: Rome.",
    "Q: capital of Spain? A: Madrid.",
    "Q: capital of Japan? A: Tokyo.",
    "Q: capital of Kenya? A: Nairobi.",
    "Q: capital of Peru? A: Lima.",
]
CHARS = sorted(set("".join(TRAIN)))
STOI = {c: i + 1 for i, c in enumerate(CHARS)}
BATCH_SIZE = 8
ITERS = 300
MAX_SEQ = 64


def encode(text):
    return [STOI[c] for c in text]


def iterate_batches(dataset, batch_size, max_seq_length, train=False):
    idx = sorted(range(len(dataset)), key=lambda i: len(dataset[i]))
    batch_idx = [idx[i:i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]
    while True:
        for i in np.random.permutation(len(batch_idx)):
            batch = [encode(dataset[j]) for j in batch_idx[i]]
            width = min(max(len(b) for b in batch), max_seq_length)
            arr = np.zeros((batch_size, width), np.int32)
            for j, b in enumerate(batch):
                arr[j, :min(len(b), width)] = b[:width]
            lengths = mx.array([min(len(b), width) for b in batch])
            batch = mx.array(arr)
            yield batch[:, :-1], batch[:, 1:], lengths
        if not train:
            break


class CharLM(nn.Module):
    def __init__(self, vocab, dim=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, inputs, targets, lengths):
    logits = model(inputs)
    mask = mx.arange(inputs.shape[1])[None, :] < (lengths[:, None] - 1)
    ce = nn.losses.cross_entropy(logits, targets) * mask
    return ce.sum() / mask.sum()


model = CharLM(len(CHARS) + 1)
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)
print(f"Starting training..., iters: {ITERS}", flush=True)
tic = time.perf_counter()
losses = []
for it, (inputs, targets, lengths) in zip(
    range(1, ITERS + 1), iterate_batches(TRAIN, BATCH_SIZE, MAX_SEQ, train=True)
):
    loss, grads = loss_and_grad(model, inputs, targets, lengths)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    losses.append(loss.item())
    if it % 20 == 0:
        its = 20 / (time.perf_counter() - tic)
        print(f"Iter {it}: Train loss {np.mean(losses):.3f}, It/sec {its:.3f}", flush=True)
        losses = []
        tic = time.perf_counter()
