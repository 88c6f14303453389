"""MNIST-like digit classifier on synthetic blobs; the whole train step is compiled for speed."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(4)
N, D, K = 4000, 64, 10
protos = mx.random.normal((K, D))
labels = mx.random.randint(0, K, (N,))
images = protos[labels] + 1.5 * mx.random.normal((N, D))

model = nn.Sequential(nn.Linear(D, 128), nn.ReLU(), nn.Linear(128, K))
optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)
mx.eval(model.parameters())
state = [model.state, optimizer.state]


xent = partial(nn.losses.cross_entropy, reduction="mean")


def loss_fn(model, x, y):
    return xent(model(x), y)


@mx.compile
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    optimizer.update(model, grads)
    return loss


for epoch in range(5):
    perm = mx.random.permutation(N)
    total = 0.0
    for i in range(0, N, 100):
        idx = perm[i:i + 100]
        loss = train_step(images[idx], labels[idx])
        mx.eval(state)
        total += loss.item()
    acc = (model(images).argmax(-1) == labels).mean().item()
    print(f"epoch {epoch + 1:2d}  train_loss {total / (N // 100):.4f}  train_acc {acc:.3f}")
