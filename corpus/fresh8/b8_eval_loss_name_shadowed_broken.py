# Small transformer LM on a synthetic "language" (the loss function used to be a
# method of the model; it was pulled out into loss_fn so it can be compiled).
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(0)
mx.random.seed(0)

VOCAB, CTX, DIMS, HEADS, LAYERS = 24, 32, 64, 4, 2
batch_size = 16
num_iters = 240
steps_per_report = 20
steps_per_eval = 80


def make_corpus(n):
    # a first-order Markov chain with a sparse transition table
    trans = rng.dirichlet(np.full(VOCAB, 0.1), size=VOCAB)
    toks = [0]
    for _ in range(n - 1):
        toks.append(rng.choice(VOCAB, p=trans[toks[-1]]))
    return np.array(toks, dtype=np.int32)


corpus = make_corpus(30000)
train, valid = corpus[:27000], corpus[27000:]


def to_samples(context_size, dataset):
    n = (dataset.size - 1) // context_size
    x = dataset[: n * context_size].reshape(n, context_size)
    y = dataset[1 : n * context_size + 1].reshape(n, context_size)
    return x, y


def iterate_batches(batch_size, context_size, dataset):
    inputs, targets = to_samples(context_size, dataset)
    while True:
        perm = rng.permutation(inputs.shape[0])
        for s in range(0, inputs.shape[0] - batch_size + 1, batch_size):
            ids = perm[s : s + batch_size]
            yield inputs[ids], targets[ids]


class TransformerLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, DIMS)
        self.pe = nn.SinusoidalPositionalEncoding(DIMS)
        self.transformer = nn.TransformerEncoder(LAYERS, DIMS, HEADS, norm_first=True)
        self.out_proj = nn.Linear(DIMS, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.embedding(x)
        x = x + self.pe(mx.arange(L))
        x = self.transformer(x, mask)
        return self.out_proj(x)


model = TransformerLM()
mx.eval(model.parameters())


def loss_fn(model, x, y, reduce=True):
    logits = model(x)
    losses = nn.losses.cross_entropy(logits, y)
    return mx.mean(losses) if reduce else mx.mean(losses, axis=-1)


optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=1e-5)


def eval_fn(dataset):
    inputs, targets = map(mx.array, to_samples(CTX, dataset))
    loss = 0
    for s in range(0, targets.shape[0], batch_size):
        bx, by = inputs[s : s + batch_size], targets[s : s + batch_size]
        losses = loss(bx, by, reduce=False)
        loss += mx.sum(losses).item()
    return loss / len(targets)


state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(inputs, targets):
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    loss, grads = loss_and_grad_fn(model, inputs, targets)
    optimizer.update(model, grads)
    return loss


train_iterator = iterate_batches(batch_size, CTX, train)
losses = []
tic = time.perf_counter()
for it, (inputs, targets) in zip(range(num_iters), train_iterator):
    inputs, targets = map(mx.array, (inputs, targets))
    loss = step(inputs, targets)
    mx.eval(state)
    losses.append(loss.item())
    if (it + 1) % steps_per_report == 0:
        train_loss = np.mean(losses)
        toc = time.perf_counter()
        print(f"Iter {it + 1}: Train loss {train_loss:.3f}, It/sec {steps_per_report / (toc - tic):.3f}")
        losses = []
        tic = time.perf_counter()
    if (it + 1) % steps_per_eval == 0:
        val_loss = eval_fn(valid)
        print(f"Iter {it + 1}: Val loss {val_loss:.3f}, Val ppl {math.exp(val_loss):.3f}")
