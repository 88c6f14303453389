"""Tiny single-object grid detector (YOLO-style) on synthetic 16x16 images.

Each image holds one bright 3x3 blob on noise. The net predicts, per 4x4 grid
cell, an objectness logit and the blob centre offset inside that cell.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S = 4          # grid size
IMG = 16
CELL = IMG // S


def make_data(n, rng):
    imgs = rng.normal(0.0, 0.3, size=(n, IMG, IMG, 1)).astype(np.float32)
    tgt = np.zeros((n, S, S, 3), dtype=np.float32)   # conf, x_off, y_off
    for i in range(n):
        cy, cx = rng.uniform(1.5, IMG - 1.5, size=2)
        y0, x0 = int(round(cy)) - 1, int(round(cx)) - 1
        imgs[i, y0:y0 + 3, x0:x0 + 3, 0] += 2.0
        gy, gx = int(cy // CELL), int(cx // CELL)
        tgt[i, gy, gx] = [1.0, (cx - gx * CELL) / CELL, (cy - gy * CELL) / CELL]
    return mx.array(imgs), mx.array(tgt)


class GridNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1, stride=2)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1, stride=2)
        self.head = nn.Conv2d(32, 3, 1)
        self.S = S

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        return self.head(x)   # [B, S, S, 3]


def grid_loss(pred, targets, model):
    obj = targets[..., 0]
    conf_loss = nn.losses.binary_cross_entropy(pred[..., 0], obj, reduction="mean")
    xy = mx.sigmoid(pred[..., 1:3])
    xy_err = ((xy - targets[..., 1:3]) ** 2).sum(axis=-1)
    xy_loss = (xy_err * obj).sum() / obj.sum()
    return 2.0 * conf_loss + 5.0 * xy_loss, conf_loss, xy_loss


def adjust_lr(optimizer, epoch, num_epochs, initial_lr):
    warmup_epochs = 2
    if epoch < warmup_epochs:
        optimizer.learning_rate = initial_lr * ((epoch + 1) / warmup_epochs)
    else:
        progress = (epoch - warmup_epochs) / (num_epochs - warmup_epochs)
        optimizer.learning_rate = initial_lr * 0.5 * (1 + math.cos(math.pi * progress))
    return optimizer.learning_rate


def train_step(model, batch, optimizer):
    """Single training step"""
    images, targets = batch

    def loss_fn(model, images, targets):
        predictions = model(images)
        return grid_loss(predictions, targets, model)

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    # Compute loss and gradients
    (loss, conf_l, xy_l), grads = loss_and_grad_fn(model, images, targets)

    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss, conf_l, xy_l)
    return loss, conf_l, xy_l


def cell_accuracy(model, images, targets):
    pred = model(images)
    B = images.shape[0]
    p = pred[..., 0].reshape(B, -1).argmax(axis=1)
    t = targets[..., 0].reshape(B, -1).argmax(axis=1)
    return (p == t).astype(mx.float32).mean().item()


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, Ytr = make_data(1024, rng)
    Xva, Yva = make_data(512, rng)
    model = GridNet()
    optimizer = optim.Adam(learning_rate=3e-3)
    num_epochs, bs, initial_lr = 6, 64, 3e-3

    for epoch in range(num_epochs):
        lr = adjust_lr(optimizer, epoch, num_epochs, initial_lr)
        t0 = time.time()
        perm = np.random.default_rng(epoch).permutation(Xtr.shape[0])
        tot = conf = xy = 0.0
        nb = 0
        for i in range(0, len(perm), bs):
            idx = mx.array(perm[i:i + bs])
            loss, c, x = train_step(model, (Xtr[idx], Ytr[idx]), optimizer)
            tot += loss.item(); conf += c.item(); xy += x.item(); nb += 1
        acc = cell_accuracy(model, Xva, Yva)
        print(f"Epoch {epoch + 1}/{num_epochs} lr={float(lr):.5f} "
              f"total={tot / nb:.4f} conf={conf / nb:.4f} xy={xy / nb:.4f} "
              f"val_cell_acc={acc:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
