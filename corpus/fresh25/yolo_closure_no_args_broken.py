"""Tiny YOLO-style detector on synthetic 16x16 images with one bright box.

Grid S=4, one box per cell: each cell predicts (x, y, w, h, objectness)
relative to the cell. Loss is a simplified YOLO v1 sum-squared loss.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

S, IMG = 4, 16
rng = np.random.default_rng(3)


def make_dataset(n):
    imgs = np.zeros((n, IMG, IMG, 1), np.float32)
    tgts = np.zeros((n, S, S, 5), np.float32)
    for i in range(n):
        w, h = rng.integers(3, 7, size=2)
        x0, y0 = rng.integers(0, IMG - w), rng.integers(0, IMG - h)
        imgs[i, y0:y0 + h, x0:x0 + w, 0] = 1.0
        imgs[i] += 0.05 * rng.standard_normal((IMG, IMG, 1))
        cx, cy = (x0 + w / 2) / IMG, (y0 + h / 2) / IMG
        gx, gy = min(int(cx * S), S - 1), min(int(cy * S), S - 1)
        tgts[i, gy, gx] = [cx * S - gx, cy * S - gy, w / IMG, h / IMG, 1.0]
    return mx.array(imgs), mx.array(tgts)


class TinyYOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.head = nn.Conv2d(32, 5, 1)

    def __call__(self, x):
        x = nn.leaky_relu(self.c1(x), 0.1)
        x = nn.leaky_relu(self.c2(x), 0.1)
        x = nn.leaky_relu(self.c3(x), 0.1)
        return mx.sigmoid(self.head(x))  # [B, S, S, 5]


def yolo_loss(pred, tgt, l_coord=5.0, l_noobj=0.5):
    obj = tgt[..., 4]
    xy = mx.sum((pred[..., :2] - tgt[..., :2]) ** 2, axis=-1)
    wh = mx.sum((mx.sqrt(pred[..., 2:4]) - mx.sqrt(tgt[..., 2:4])) ** 2, axis=-1)
    conf = (pred[..., 4] - obj) ** 2
    per_img = l_coord * obj * (xy + wh) + obj * conf + l_noobj * (1 - obj) * conf
    return mx.mean(mx.sum(per_img, axis=(1, 2)))


def batches(x, y, bs):
    perm = np.random.permutation(x.shape[0])
    for i in range(0, len(perm) - bs + 1, bs):
        idx = mx.array(perm[i:i + bs])
        yield x[idx], y[idx]


def train(num_epochs=20, batch_size=32, learning_rate=1e-3):
    model = TinyYOLO()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=learning_rate)
    train_x, train_y = make_dataset(768)
    n_batches = train_x.shape[0] // batch_size
    for epoch in range(num_epochs):
        model.train(True)
        epoch_loss, start_time = 0.0, time.time()
        for batch_idx, (images, targets) in enumerate(batches(train_x, train_y, batch_size)):

            def loss_fn():
                predictions = model(images)
                return yolo_loss(predictions, targets)

            # Compute loss and gradients
            loss, grads = mx.value_and_grad(loss_fn)()
            optimizer.update(model, grads)
            epoch_loss += loss.item()

            if (batch_idx + 1) % 16 == 0:
                print(f"Epoch [{epoch+1}/{num_epochs}], Batch [{batch_idx+1}/{n_batches}], Loss: {loss.item():.4f}")

        print(f"Epoch [{epoch+1}/{num_epochs}], Average Loss: {epoch_loss / n_batches:.4f}, "
              f"Time: {time.time() - start_time:.2f}s")


if __name__ == "__main__":
    np.random.seed(0)
    mx.random.seed(0)
    train()
