"""Small 8x8 'digit' classifier with a fully compiled, shapeless training step.

shapeless=True so the last (smaller) batch of every epoch does not trigger a
recompile.
"""
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
mx.random.seed(0)
N, CLASSES = 1000, 4
protos = rng.normal(size=(CLASSES, 8, 8, 1)).astype(np.float32)
labels = rng.integers(0, CLASSES, N)
images = protos[labels] + 2.5 * rng.normal(size=(N, 8, 8, 1)).astype(np.float32)
X, Y = mx.array(images), mx.array(labels)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, CLASSES)

    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)  # (B, 8, 8, 1) -> (B, 64)
        return self.fc2(nn.relu(self.fc1(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Net()
optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)
state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state, shapeless=True)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss


BATCH = 64
for epoch in range(8):
    perm = mx.array(rng.permutation(N))
    losses = []
    for i in range(0, N, BATCH):
        idx = perm[i:i + BATCH]
        loss = train_step(X[idx], Y[idx])
        mx.eval(state)
        losses.append(loss.item())
    acc = mx.mean(mx.argmax(model(X), axis=1) == Y).item()
    print(f"[epoch {epoch}] nll={np.mean(losses):.4f} acc={acc:.3f}")
