# Small CIFAR-style CNN (LayerNorm + Dropout) trained on a synthetic 10-class
# 16x16 RGB "texture" dataset. Per-epoch: loss, train acc, test acc, throughput.
import time
import tempfile
import os
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NUM_CLASSES = 10
IMG = 16
BATCH = 64
EPOCHS = 8
LR = 3e-3

rng = np.random.default_rng(7)
# each class: a fixed colour/frequency template, samples = template + noise + random shift
templates = rng.normal(0, 1, size=(NUM_CLASSES, IMG, IMG, 3)).astype(np.float32)
templates = np.stack([
    np.roll(np.cumsum(t, axis=0) / 4.0, 0, axis=0) for t in templates
])


def make_split(n):
    y = rng.integers(0, NUM_CLASSES, size=n)
    x = templates[y] + rng.normal(0, 1.8, size=(n, IMG, IMG, 3)).astype(np.float32)
    shift = rng.integers(-2, 3, size=n)
    for i in range(n):
        x[i] = np.roll(x[i], shift[i], axis=1)
    return x.astype(np.float32), y.astype(np.int32)


X_tr, y_tr = make_split(3000)
X_te, y_te = make_split(1000)


class CNN(nn.Module):
    """A simple CNN for CIFAR-10-like data."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.conv3 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
        self.fc1 = nn.Linear(2 * 2 * 64, 64)
        self.fc2 = nn.Linear(64, num_classes)
        self.drop = nn.Dropout(0.25)
        self.ln1 = nn.LayerNorm(16)
        self.ln2 = nn.LayerNorm(32)
        self.ln3 = nn.LayerNorm(64)

    def __call__(self, x):
        x = self.drop(nn.relu(self.ln1(self.conv1(x))))
        x = self.drop(nn.relu(self.ln2(self.conv2(x))))
        x = self.drop(nn.relu(self.ln3(self.conv3(x))))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(self.fc1(x))
        return self.fc2(x)

    def num_params(self):
        return sum(v.size for _, v in tree_flatten(self.trainable_parameters()))


def loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y)


def batches(X, y, shuffle):
    idx = rng.permutation(len(X)) if shuffle else np.arange(len(X))
    for s in range(0, len(X), BATCH):
        j = idx[s:s + BATCH]
        yield mx.array(X[j]), mx.array(y[j])


def test_epoch(model, X, y):
    accs = []
    for Xb, yb in batches(X, y, shuffle=False):
        accs.append(eval_fn(model, Xb, yb).item())
    return float(np.mean(accs))


def train_epoch(model, loss_and_grad_fn, optimizer, epoch):
    running_loss, running_acc, n = 0.0, 0.0, 0
    tic = time.perf_counter()
    for Xb, yb in batches(X_tr, y_tr, shuffle=True):
        loss, grads = loss_and_grad_fn(model, Xb, yb)
        optimizer.update(model, grads)
        acc = eval_fn(model, Xb, yb)
        mx.eval(model.parameters(), optimizer.state, loss, acc)
        running_loss += loss.item()
        running_acc += acc.item()
        n += 1
    toc = time.perf_counter()
    return running_loss / n, running_acc / n, len(X_tr) / (toc - tic), toc - tic


def main():
    mx.random.seed(0)
    cnn = CNN(NUM_CLASSES)
    mx.eval(cnn.parameters())
    print(f"Number of trainable params: {cnn.num_params() / 1e6:0.4f} M")
    optimizer = optim.Adam(learning_rate=LR)
    loss_and_grad_fn = nn.value_and_grad(cnn, loss_fn)
    print("Starting training ...")
    for epoch in range(EPOCHS):
        loss, tr_acc, thr, dt = train_epoch(cnn, loss_and_grad_fn, optimizer, epoch)
        te_acc = test_epoch(cnn, X_te, y_te)
        print(f"Epoch {epoch:4d}: Loss {loss:8.5f} | Train accuracy {tr_acc:6.3f} | "
              f"Test accuracy {te_acc:6.3f} | Throughput {thr:10.2f} images/second | "
              f"Time {dt:8.3f} (s)")
    with tempfile.TemporaryDirectory() as d:
        fname = os.path.join(d, "model_final.npz")
        cnn.save_weights(fname)
        fresh = CNN(NUM_CLASSES)
        fresh.load_weights(fname)
        print(f"Loaded model from {os.path.basename(fname)}")
        print(f"Test accuracy: {test_epoch(fresh, X_te, y_te):.4f}")


if __name__ == "__main__":
    main()
