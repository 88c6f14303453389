# Small CNN on synthetic 16x16 colour "shelf photos" (10 product classes).
# Model class follows the layout of a CIFAR-10 MLX example: the model owns
# save()/load() helpers and the training loop writes one checkpoint per epoch.

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class CNN(nn.Module):
    """A simple CNN for small colour images."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(3, 12, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(12, 12, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(12, 24, 3, stride=1, padding=1)
        self.conv4 = nn.Conv2d(24, 24, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 24, 64)
        self.fc2 = nn.Linear(64, self.num_classes)
        self.drop = nn.Dropout(0.25)

    def __call__(self, x):
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))
        x = self.drop(x)
        x = nn.relu(self.conv3(x))
        x = nn.relu(self.conv4(x))
        x = self.drop(x)
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(self.fc1(x))
        return self.fc2(x)

    def num_params(self):
        return sum(v.size for _, v in tree_flatten(self.trainable_parameters()))

    def save(self, fname):
        # Extract the directory path from the file name
        dir_path = os.path.dirname(fname)

        # Check if the directory path is not empty
        if dir_path:
            # Check if the directory exists, and create it if it does not
            if not os.path.exists(dir_path):
                os.makedirs(dir_path, exist_ok=True)

        # save the model weights
        self.save_weights(fname)

    def load(self, fname):
        self.load_weights(fname)


def make_data(n, rng):
    labels = rng.integers(0, 10, size=n)
    palette = np.random.default_rng(42).uniform(0.2, 0.8, size=(10, 3)).astype(np.float32)
    angles = np.linspace(0, np.pi, 10, endpoint=False)
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    imgs = np.empty((n, 16, 16, 3), dtype=np.float32)
    for i, c in enumerate(labels):
        a = angles[c]
        stripes = np.sin((np.cos(a) * xx + np.sin(a) * yy) * 0.9 + rng.uniform(0, 6.28))
        base = palette[c][None, None, :] + 0.25 * stripes[..., None]
        imgs[i] = base + rng.normal(0, 0.35, size=(16, 16, 3))
    return imgs, labels.astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def eval_acc(model, x, y, bs=250):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], bs):
        logits = model(x[i:i + bs])
        correct += (mx.argmax(logits, axis=1) == y[i:i + bs]).sum().item()
    model.train()
    return correct / x.shape[0]


def save_model(cnn, name, epoch):
    fname = f"{name}_{epoch:03d}.npz"
    cnn.save(fname)
    return fname


def main():
    workdir = tempfile.mkdtemp(suffix="_shelfcnn_")
    os.chdir(workdir)
    rng = np.random.default_rng(0)
    mx.random.seed(0)

    xtr, ytr = make_data(1600, rng)
    xte, yte = make_data(400, np.random.default_rng(1))
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))

    cnn = CNN(num_classes=10)
    mx.eval(cnn.parameters())
    print(f"Number of trainable params: {cnn.num_params() / 1e6:0.4f} M")
    optimizer = optim.Adam(learning_rate=1e-3)
    loss_and_grad = nn.value_and_grad(cnn, loss_fn)

    batch = 64
    epochs = 4
    last = None
    for e in range(epochs):
        tic = time.perf_counter()
        perm = mx.array(np.random.default_rng(100 + e).permutation(xtr.shape[0]))
        losses = []
        for i in range(0, xtr.shape[0], batch):
            idx = perm[i:i + batch]
            loss, grads = loss_and_grad(cnn, xtr[idx], ytr[idx])
            optimizer.update(cnn, grads)
            mx.eval(cnn.parameters(), optimizer.state, loss)
            losses.append(loss.item())
        tr_acc = eval_acc(cnn, xtr, ytr)
        te_acc = eval_acc(cnn, xte, yte)
        toc = time.perf_counter()
        print(
            f"Epoch {e:02d} | Train loss {np.mean(losses):.3f} | "
            f"Train acc {tr_acc:.3f} | Test acc {te_acc:.3f} | "
            f"Time {toc - tic:.2f} s"
        )
        last = save_model(cnn, "shelf_cnn", e)
        print(f"  saved {last}")

    fresh = CNN(num_classes=10)
    fresh.load(last)
    mx.eval(fresh.parameters())
    print(f"Reloaded {last}: test acc {eval_acc(fresh, xte, yte):.3f}")
    print(f"Checkpoints in {workdir}: {sorted(os.listdir(workdir))}")


if __name__ == "__main__":
    main()
