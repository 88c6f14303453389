"""Small ConvNet on synthetic 16x16 RGB "stripe" images (4 pattern classes).

Images come out of the generator as (N, H, W, C) float32, the usual layout for
image batches.  Keras-style epoch log lines.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SIZE = 16
rng = np.random.default_rng(3)


def make_images(n):
    """Four classes: horizontal, vertical, diagonal stripes, checkerboard.
    Random period, phase and colour; additive noise.  Returns NHWC."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    imgs = np.empty((n, SIZE, SIZE, 3), np.float32)
    labels = rng.integers(0, 4, size=n)
    for i, c in enumerate(labels):
        period = rng.uniform(3.0, 6.0)
        phase = rng.uniform(0, 2 * np.pi)
        if c == 0:
            pat = np.sin(2 * np.pi * yy / period + phase)
        elif c == 1:
            pat = np.sin(2 * np.pi * xx / period + phase)
        elif c == 2:
            pat = np.sin(2 * np.pi * (xx + yy) / (1.4 * period) + phase)
        else:
            pat = np.sin(2 * np.pi * xx / period + phase) * np.sin(2 * np.pi * yy / period + phase)
        colour = rng.uniform(0.3, 1.0, size=3)
        imgs[i] = pat[..., None] * colour[None, None, :]
    imgs += rng.normal(0, 0.3, imgs.shape).astype(np.float32)
    return imgs, labels.astype(np.int32)


class ConvNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def __call__(self, x):
        # x: (N, H, W, C) - MLX native format, no transpose needed
        x = nn.relu(self.conv1(x))
        x = self.pool(x)
        x = nn.relu(self.conv2(x))
        x = self.pool(x)
        x = nn.relu(self.conv3(x))
        x = self.pool(x)

        x = x.reshape(x.shape[0], -1)
        x = nn.relu(self.fc1(x))
        return self.fc2(x)


def main():
    x_tr, y_tr = make_images(2048)
    x_va, y_va = make_images(512)
    x_va, y_va = mx.array(x_va), mx.array(y_va)

    model = ConvNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    epochs, bs = 8, 64
    n_batches = len(x_tr) // bs
    for ep in range(1, epochs + 1):
        t0 = time.time()
        perm = rng.permutation(len(x_tr))
        tot_loss, tot_acc = 0.0, 0.0
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            xb, yb = mx.array(x_tr[idx]), mx.array(y_tr[idx])
            loss, grads = step(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot_loss += loss.item()
            tot_acc += mx.mean(mx.argmax(model(xb), axis=1) == yb).item()
        val_acc = mx.mean(mx.argmax(model(x_va), axis=1) == y_va).item()
        print(f"Epoch {ep}/{epochs} - {n_batches}/{n_batches} - loss: {tot_loss / n_batches:.4f} "
              f"- acc: {tot_acc / n_batches:.4f} - val_acc: {val_acc:.4f} - {time.time() - t0:.1f}s")
    print(f"final val_acc {val_acc:.4f} (chance 0.25)")


if __name__ == "__main__":
    main()
