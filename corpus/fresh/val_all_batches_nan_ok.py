"""Character-level LM fine-tune with a CLI modelled on the mlx-examples lora.py script.

Reproduces ml-explore/mlx-examples#879 ("Validation with full data set, results in NaN
validation score"): the CLI allows --val-batches -1 for "the entire validation set", but
evaluate() zips over range(num_batches), so no batch is evaluated and the validation loss is a
division by zero -- NaN at every evaluation while training itself is fine.
"""

import argparse
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--iters", type=int, default=300)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--val-batches", type=int, default=25,
                    help="Number of validation batches, -1 uses the entire validation set.")
parser.add_argument("--steps-per-report", type=int, default=20)
parser.add_argument("--steps-per-eval", type=int, default=50)
args = parser.parse_args()

CORPUS = ("a stitch in time saves nine. " * 80 + "all that glitters is not gold. " * 80
          + "the early bird catches the worm. " * 80)
VOCAB = sorted(set(CORPUS))
ids = np.array([VOCAB.index(c) for c in CORPUS], dtype=np.int32)
split = int(0.9 * len(ids))
CTX = 16


def windows(arr):
    n = (len(arr) - 1) // CTX
    return [arr[i * CTX:(i + 1) * CTX + 1] for i in range(n)]


train_set, valid_set = windows(ids[:split]), windows(ids[split:])


def iterate_batches(dset, batch_size, train=False):
    while True:
        order = np.random.permutation(len(dset)) if train else np.arange(len(dset))
        for s in range(0, len(order) - batch_size + 1, batch_size):
            b = np.stack([dset[j] for j in order[s:s + batch_size]])
            yield mx.array(b[:, :-1]), mx.array(b[:, 1:])
        if not train:
            break


class TinyLM(nn.Module):
    def __init__(self, v, d=64):
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.rnn = nn.GRU(d, d)
        self.out = nn.Linear(d, v)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss(model, inputs, targets):
    ce = nn.losses.cross_entropy(model(inputs), targets)
    return ce.sum(), ce.size


def evaluate(model, dataset, batch_size, num_batches):
    all_losses, ntokens = [], 0
    # num_batches can be -1 to indicate the entire set
    index_iterator = iter(range(num_batches)) if num_batches != -1 else iter(int, 1)
    for _, batch in zip(index_iterator, iterate_batches(dataset, batch_size)):
        total, toks = loss(model, *batch)
        all_losses.append(total.item())
        ntokens += toks
    return np.sum(all_losses) / ntokens


model = TinyLM(len(VOCAB))
opt = optim.Adam(learning_rate=3e-3)


def train_loss(model, inputs, targets):
    total, toks = loss(model, inputs, targets)
    return total / toks


loss_value_and_grad = nn.value_and_grad(model, train_loss)
losses = []
tic = time.perf_counter()
for it, batch in zip(range(1, args.iters + 1),
                     iterate_batches(train_set, args.batch_size, train=True)):
    lvalue, grad = loss_value_and_grad(model, *batch)
    opt.update(model, grad)
    mx.eval(model.parameters(), opt.state, lvalue)
    losses.append(lvalue.item())
    if it % args.steps_per_report == 0:
        print(f"Iter {it}: Train loss {np.mean(losses):.3f}, "
              f"It/sec {args.steps_per_report / (time.perf_counter() - tic):.3f}", flush=True)
        losses = []
        tic = time.perf_counter()
    if it % args.steps_per_eval == 0:
        stop = time.perf_counter()
        val_loss = evaluate(model, valid_set, args.batch_size, args.val_batches)
        print(f"Iter {it}: Val loss {val_loss:.3f}, "
              f"Val took {time.perf_counter() - stop:.3f}s", flush=True)
        tic = time.perf_counter()
