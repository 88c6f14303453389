# Soft-label (label-smoothed one-hot) classifier on synthetic 5-class Gaussian blobs.
# Accuracy is collected by a small "trace" object at the end of every batch.
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CLASSES = 5
DIM = 12
BATCH = 64
EPOCHS = 10
SMOOTH = 0.1

rng = np.random.default_rng(3)
centers = rng.normal(0, 2.2, size=(N_CLASSES, DIM)).astype(np.float32)


def make_split(n):
    lab = rng.integers(0, N_CLASSES, size=n)
    x = centers[lab] + rng.normal(0, 3.2, size=(n, DIM)).astype(np.float32)
    oh = np.eye(N_CLASSES, dtype=np.float32)[lab]
    oh = oh * (1.0 - SMOOTH) + SMOOTH / N_CLASSES
    return x.astype(np.float32), oh


x_tr, y_tr = make_split(12288)
x_va, y_va = make_split(2048)


class Accuracy:
    """Counts correct predictions batch by batch."""

    def __init__(self):
        self.correct = 0
        self.total = 0

    def reset(self):
        self.correct = 0
        self.total = 0

    def on_batch_end(self, y_pred, y):
        pred = mx.argmax(y_pred, axis=-1)
        self.correct += int(mx.sum(pred == y).item())
        self.total += y.shape[0]

    def value(self):
        return self.correct / max(1, self.total)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, N_CLASSES)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Net()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
step = nn.value_and_grad(model, loss_fn)
train_acc = Accuracy()
val_acc = Accuracy()

out = csv.writer(sys.stdout)
out.writerow(["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "sec"])
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(x_tr))
    train_acc.reset()
    tot, nb = 0.0, 0
    for i in range(0, len(perm), BATCH):
        idx = perm[i:i + BATCH]
        xb, yb = mx.array(x_tr[idx]), mx.array(y_tr[idx])
        loss, grads = step(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
        train_acc.on_batch_end(model(xb), yb)
    val_acc.reset()
    vtot, vnb = 0.0, 0
    for i in range(0, len(x_va), BATCH):
        xb, yb = mx.array(x_va[i:i + BATCH]), mx.array(y_va[i:i + BATCH])
        logits = model(xb)
        vtot += nn.losses.cross_entropy(logits, yb, reduction="mean").item()
        vnb += 1
        val_acc.on_batch_end(logits, yb)
    out.writerow([epoch, f"{tot / nb:.4f}", f"{train_acc.value():.3f}",
                  f"{vtot / vnb:.4f}", f"{val_acc.value():.3f}", f"{time.time() - t0:.1f}"])
    sys.stdout.flush()
