"""Tiny CNN: is the bright blob in the left or the right half of an 8x8 RGB image?

Images are produced the PyTorch way, as (N, C, H, W) arrays.
"""
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(5)


def make_images(n):
    imgs = rng.normal(0, 1.0, size=(n, 3, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 2, size=n)
    for i, lab in enumerate(labels):
        col = rng.integers(4 * lab, 4 * lab + 3)
        row = rng.integers(0, 7)
        imgs[i, :, row:row + 2, col:col + 2] += 0.6
    return imgs, labels


def to_batch(imgs, labels):
    return mx.array(imgs).transpose(0, 2, 3, 1), mx.array(labels)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 2)

    def __call__(self, x):
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))
        return self.fc(x.reshape(x.shape[0], -1))


def bar(done, total, width=20):
    filled = int(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


model = SmallCNN()
opt = optim.AdamW(learning_rate=1e-3)
loss_grad = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
steps = 80
for step in range(1, steps + 1):
    x, y = to_batch(*make_images(32))
    loss, grads = loss_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 10 == 0:
        acc = (model(x).argmax(axis=1) == y).mean().item()
        line = f"train {bar(step, steps)} {step}/{steps} loss={loss.item():.3f} acc={acc:.2f}"
        sys.stdout.write(line + "\n")
