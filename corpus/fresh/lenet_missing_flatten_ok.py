"""LeNet-style CNN on synthetic 16x16 images (NHWC), ported from a PyTorch nn.Sequential.

Reproduces ml-explore/mlx#1308 ("What is the equivalent to a Flatten layer in MLX?"): the conv
stack goes straight into nn.Linear(64, ...) with no flatten, so the 4-D feature map reaches the
matmul; the answer is to reshape to (batch, -1) between the conv part and the MLP.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(1)
N, S = 1024, 16


def make_images(n):
    ys = mx.random.randint(0, 2, (n,))
    cols = mx.arange(S)[None, None, :]
    left = (cols < S // 2).astype(mx.float32)
    blob = mx.where(ys[:, None, None] == 0, left, 1.0 - left)
    imgs = 0.25 * blob + mx.random.normal((n, S, S))
    return imgs[..., None], ys


X, Y = make_images(N)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.mlp = nn.Sequential(nn.Linear(2 * 2 * 16, 32), nn.ReLU(), nn.Linear(32, 2))

    def __call__(self, x):
        x = self.conv(x).reshape(x.shape[0], -1)
        return self.mlp(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = LeNet()
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
train_step = nn.value_and_grad(model, loss_fn)
for epoch in range(1, 9):
    tic = time.perf_counter()
    perm = mx.random.permutation(N)
    tot = 0.0
    for b in range(0, N, 32):
        i = perm[b:b + 32]
        loss, grads = train_step(model, X[i], Y[i])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    acc = (mx.argmax(model(X), axis=-1) == Y).mean().item()
    print(f"Epoch {epoch}: train loss {tot / (N // 32):.4f}, accuracy {acc:.3f}, "
          f"time {time.perf_counter() - tic:.2f}s", flush=True)
