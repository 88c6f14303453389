"""Keyword-spotting style classifier fed by a buffered stream that must be reset every epoch.

Reproduces ml-explore/mlx-examples#1113 ("Fix data_iter in prepare_dataset from speechcommands
example"): the train/test streams were never reset, so after the first epoch they yield no
batches -- later epochs train on nothing and their mean loss/accuracy come out as NaN. The fix
adds train_iter.reset() / test_iter.reset().
"""

import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(4)
N_CLASSES, FRAMES, BINS = 6, 20, 12
protos = mx.random.normal((N_CLASSES, FRAMES, BINS))


class BufferedStream:
    """Minimal stand-in for an mlx.data buffered stream: iterate, then reset() to rewind."""

    def __init__(self, n, batch_size, seed):
        key = mx.random.key(seed)
        self.y = mx.random.randint(0, N_CLASSES, (n,), key=key)
        self.x = protos[self.y] + 1.5 * mx.random.normal((n, FRAMES, BINS), key=key)
        self.batch_size = batch_size
        self.pos = 0

    def __iter__(self):
        while self.pos + self.batch_size <= self.y.shape[0]:
            s = slice(self.pos, self.pos + self.batch_size)
            self.pos += self.batch_size
            yield {"audio": self.x[s], "label": self.y[s]}

    def reset(self):
        self.pos = 0


class KWS(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(BINS, 32, kernel_size=5)
        self.head = nn.Linear(32, N_CLASSES)

    def __call__(self, x):
        return self.head(nn.relu(self.conv(x)).mean(axis=1))


model = KWS()
optimizer = optim.AdamW(learning_rate=1e-3)


def train_step(model, x, y):
    output = model(x)
    return mx.mean(nn.losses.cross_entropy(output, y)), mx.mean(mx.argmax(output, 1) == y)


state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    (loss, acc), grads = nn.value_and_grad(model, train_step)(model, x, y)
    optimizer.update(model, grads)
    return loss, acc


def train_epoch(train_iter, epoch):
    losses, accs = [], []
    for batch_counter, batch in enumerate(train_iter):
        loss, acc = step(batch["audio"], batch["label"])
        mx.eval(state)
        losses.append(loss.item())
        accs.append(acc.item())
        if batch_counter % 25 == 0:
            print(" | ".join((f"Epoch {epoch:02d} [{batch_counter:03d}]",
                              f"Train loss {losses[-1]:.3f}", f"Train acc {accs[-1]:.3f}")))
    return mx.mean(mx.array(losses)), mx.mean(mx.array(accs))


def test_epoch(test_iter):
    accs = [mx.mean(mx.argmax(model(b["audio"]), 1) == b["label"]).item() for b in test_iter]
    return mx.mean(mx.array(accs))


train_iter = BufferedStream(3200, 32, seed=1)
test_iter = BufferedStream(640, 64, seed=2)
for epoch in range(1, 13):
    tic = time.perf_counter()
    tr_loss, tr_acc = train_epoch(train_iter, epoch)
    te_acc = test_epoch(test_iter)
    print(" | ".join((f"Epoch: {epoch}", f"avg. Train loss {tr_loss.item():.3f}",
                      f"avg. Train acc {tr_acc.item():.3f}", f"Test acc {te_acc.item():.3f}",
                      f"took {time.perf_counter() - tic:.2f}s")), flush=True)
