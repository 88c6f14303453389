"""Bar-orientation classifier with CutMix augmentation (MLX).

Small conv net on synthetic 16x16 images of oriented bars (4 classes).
CutMix (Yun et al. 2019) is applied to half of the training batches:
a random box from a shuffled copy of the batch is pasted into each image
and the one-hot labels are mixed by the pasted area.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
H = W = 16
N_CLASSES = 4
BATCH = 64
EPOCHS = 6
CUTMIX_PROB = 0.5
CUTMIX_START_EPOCH = 2   # plain batches for the first epoch, then CutMix
ALPHA = 1.0

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_bars(n):
    """Images with one noisy bar: horizontal, vertical, diagonal, anti-diagonal."""
    x = rng.normal(0.0, 0.9, size=(n, H, W, 1)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    for i in range(n):
        k = rng.integers(3, H - 3)
        if y[i] == 0:
            x[i, k - 1:k + 1, :, 0] += 1.0
        elif y[i] == 1:
            x[i, :, k - 1:k + 1, 0] += 1.0
        elif y[i] == 2:
            idx = np.arange(H)
            x[i, idx, idx, 0] += 1.2
        else:
            idx = np.arange(H)
            x[i, idx, H - 1 - idx, 0] += 1.2
    return x, y


x_train, y_train = make_bars(1920)
x_val, y_val = make_bars(512)


class BarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, kernel_size=3, padding=1)
        self.c2 = nn.Conv2d(12, 24, kernel_size=3, stride=2, padding=1)
        self.c3 = nn.Conv2d(24, 32, kernel_size=3, stride=2, padding=1)
        self.head = nn.Linear(32, N_CLASSES)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        x = mx.max(x, axis=(1, 2))
        return self.head(x)


def soft_ce(logits, targets):
    return -(targets * nn.log_softmax(logits, axis=-1)).sum(axis=-1).mean()


def cutmix(images, labels):
    """Paste a random box from a shuffled copy of the batch; mix labels by area."""
    if rng.random() > CUTMIX_PROB:
        return images, labels
    b = images.shape[0]
    lam = rng.beta(ALPHA, ALPHA)
    perm = mx.array(rng.permutation(b))
    shuffled_images = images[perm]
    shuffled_labels = labels[perm]
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(H * cut), int(W * cut)
    cy, cx = rng.integers(0, H), rng.integers(0, W)
    y1, y2 = max(0, cy - ch // 2), min(H, cy + ch // 2)
    x1, x2 = max(0, cx - cw // 2), min(W, cx + cw // 2)
    area_lam = float(1.0 - (y2 - y1) * (x2 - x1) / (H * W))

    mask_np = np.zeros((1, H, W, 1), dtype=np.float32)
    mask_np[:, y1:y2, x1:x2, :] = 1.0
    mask = mx.array(mask_np)
    mixed = images.astype(mx.float32) * (1.0 - mask) + shuffled_images.astype(mx.float32) * mask

    mixed_labels = area_lam * labels + (1.0 - area_lam) * shuffled_labels
    return mixed, mixed_labels


model = BarNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return soft_ce(m(xb), yb)


loss_and_grad = nn.value_and_grad(model, loss_fn)
eye = np.eye(N_CLASSES, dtype=np.float32)
steps_per_epoch = len(x_train) // BATCH


def bar(frac, width=24):
    full = int(frac * width)
    return "#" * full + "." * (width - full)


t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(len(x_train))
    running = 0.0
    for s in range(steps_per_epoch):
        idx = order[s * BATCH:(s + 1) * BATCH]
        xb = mx.array(x_train[idx])
        yb = mx.array(eye[y_train[idx]])
        if epoch >= CUTMIX_START_EPOCH:
            xb, yb = cutmix(xb, yb)
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if (s + 1) % 10 == 0 or s + 1 == steps_per_epoch:
            print(f"epoch {epoch}/{EPOCHS} [{bar((s + 1) / steps_per_epoch)}] "
                  f"{s + 1:>2}/{steps_per_epoch} loss={running / (s + 1):.4f}", flush=True)
    logits = model(mx.array(x_val))
    acc = (mx.argmax(logits, axis=-1) == mx.array(y_val)).astype(mx.float32).mean().item()
    print(f"  -> val_acc={acc:.3f}  elapsed={time.time() - t0:.1f}s", flush=True)

print("done")
