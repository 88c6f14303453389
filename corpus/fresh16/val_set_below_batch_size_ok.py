# LoRA fine-tune of a small frozen "base" sequence model on a few hand-made
# examples (the lora.py layout: iterate_batches / evaluate / train).
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

np.random.seed(7)
mx.random.seed(7)

V, D, T = 64, 48, 12


class LoRALinear(nn.Module):
    def __init__(self, linear, rank=4, scale=2.0):
        super().__init__()
        out_dims, in_dims = linear.weight.shape
        self.linear = linear
        self.scale = scale
        bound = 1 / np.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.proj = nn.Linear(D, D)
        self.out = nn.Linear(D, V)

    def __call__(self, x):
        return self.out(nn.relu(self.proj(self.emb(x))))


def make_split(n):
    # task: output token = (input token * 3 + 1) mod V, position-wise
    x = np.random.randint(0, V, (n, T))
    y = (x * 3 + 1) % V
    return [(a, b) for a, b in zip(x, y)]


def iterate_batches(dset, batch_size, train=False):
    while True:
        indices = np.arange(len(dset))
        if train:
            indices = np.random.permutation(indices)
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            rows = [dset[j] for j in indices[i:i + batch_size]]
            yield mx.array(np.stack([r[0] for r in rows])), mx.array(np.stack([r[1] for r in rows]))
        if not train:
            break


def loss(model, inputs, targets):
    logits = model(inputs)
    ce = nn.losses.cross_entropy(logits, targets)
    ntoks = targets.size
    return ce.mean(), ntoks


def evaluate(model, dataset, batch_size, num_batches):
    all_losses = []
    ntokens = 0
    for it, batch in zip(range(num_batches), iterate_batches(dataset, batch_size)):
        losses, toks = loss(model, *batch)
        all_losses.append((losses * toks).item())
        ntokens += toks
    return np.sum(all_losses) / ntokens


model = Base()
model.freeze()
model.proj = LoRALinear(model.proj)
model.out = LoRALinear(model.out)
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Trainable parameters {n_train}")

train_set = make_split(512)
valid_set = make_split(6)      # a handful of held-out examples
batch_size = 8
iters, steps_per_report, steps_per_eval, val_batches = 400, 20, 100, 25

opt = optim.Adam(learning_rate=2e-3)
loss_value_and_grad = nn.value_and_grad(model, loss)

losses, n_tokens = [], 0
start = time.perf_counter()
for it, batch in zip(range(iters), iterate_batches(train_set, batch_size, train=True)):
    (lvalue, toks), grad = loss_value_and_grad(model, *batch)
    opt.update(model, grad)
    mx.eval(model.parameters(), opt.state, lvalue)
    losses.append(lvalue.item())
    n_tokens += toks
    if (it + 1) % steps_per_report == 0:
        stop = time.perf_counter()
        print(f"Iter {it + 1}: Train loss {np.mean(losses):.3f}, "
              f"It/sec {steps_per_report / (stop - start):.3f}, Tokens/sec {n_tokens / (stop - start):.1f}")
        losses, n_tokens = [], 0
        start = time.perf_counter()
    if it == 0 or (it + 1) % steps_per_eval == 0:
        stop = time.perf_counter()
        val_loss = evaluate(model, valid_set, min(batch_size, len(valid_set)), val_batches)
        print(f"Iter {it + 1}: Val loss {val_loss:.3f}, Val took {(time.perf_counter() - stop):.3f}s")
        start = time.perf_counter()
