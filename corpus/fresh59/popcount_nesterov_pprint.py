"""Learn popcount: how many bits are set in a 12-bit integer (13 classes).

A small ReLU MLP over the 12 raw bits, SGD with Nesterov momentum and a
step-decay schedule. Every epoch a pprint'ed OrderedDict is written.
"""
import collections
import pprint
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NBITS = 12
rng = np.random.default_rng(7)

all_ints = np.arange(2 ** NBITS)
rng.shuffle(all_ints)
bits = ((all_ints[:, None] >> np.arange(NBITS)[None, :]) & 1).astype(np.float32)
counts = bits.sum(axis=1).astype(np.int32)

n_test = 800
X_test, y_test = mx.array(bits[:n_test]), mx.array(counts[:n_test])
X_train, y_train = bits[n_test:], counts[n_test:]


class PopcountNet(nn.Module):
    def __init__(self, hidden=256):
        super().__init__()
        self.fc1 = nn.Linear(NBITS, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, NBITS + 1)

    def __call__(self, x):
        x = nn.relu(self.fc1(2.0 * x - 1.0))
        x = nn.relu(self.fc2(x))
        return self.head(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = PopcountNet()
mx.eval(model.parameters())

steps_per_epoch = len(X_train) // 64
schedule = optim.step_decay(0.05, 0.5, 8 * steps_per_epoch)
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)
loss_and_grad = nn.value_and_grad(model, loss_fn)

# first-step gradient check: every leaf must receive some gradient
_, g0 = loss_and_grad(model, mx.array(X_train[:64]), mx.array(y_train[:64]))
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
pprint.pprint(collections.OrderedDict(
    check="first-step gradients",
    leaves=len(tree_flatten(g0)),
    zero_leaves=zero_leaves,
    majority_baseline=float((counts[:n_test] == 6).mean()),
))

t0 = time.perf_counter()
for epoch in range(1, 41):
    perm = rng.permutation(len(X_train))
    running, nb = 0.0, 0
    for i in range(steps_per_epoch):
        idx = perm[i * 64:(i + 1) * 64]
        loss, grads = loss_and_grad(model, mx.array(X_train[idx]), mx.array(y_train[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        nb += 1
    logits = model(X_test)
    acc = mx.mean(mx.argmax(logits, axis=1) == y_test).item()
    test_ce = nn.losses.cross_entropy(logits, y_test, reduction="mean").item()
    pprint.pprint(collections.OrderedDict(
        epoch=epoch,
        train_ce=round(running / nb, 4),
        test_ce=round(test_ce, 4),
        test_acc=round(acc, 4),
        lr=round(opt.learning_rate.item(), 5),
        secs=round(time.perf_counter() - t0, 2),
    ), width=120)
