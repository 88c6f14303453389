# Tiny YOLO-style grid detector for coloured kites on a sky background (MLX).
# Synthetic 32x32 RGB "photos" with one kite square each; 4x4 grid, 3 kite colours.
import time
from typing import Tuple

import numpy as np
from PIL import Image
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

KITE_CLASSES = ["red", "yellow", "blue"]
COLOURS = np.array([[220, 40, 40], [230, 210, 40], [40, 60, 220]], dtype=np.float32)
IMG, GRID, NC = 32, 4, len(KITE_CLASSES)


def augment_image(
    image: np.ndarray, boxes: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """Apply data augmentation to image and boxes"""
    # Convert float32 [0-1] to uint8 [0-255]
    if image.dtype == np.float32:
        image = (image * 255).astype(np.uint8)

    # Random horizontal flip
    if np.random.random() < 0.5:
        image = np.ascontiguousarray(np.fliplr(image))
        boxes[:, [0, 2]] = 1 - boxes[:, [2, 0]]  # Flip x coordinates

    # Random brightness
    if np.random.random() < 0.5:
        delta = np.random.uniform(-32, 32)
        image = np.clip(image.astype(np.float32) + delta, 0, 255).astype(np.uint8)

    # Random saturation
    if np.random.random() < 0.5:
        saturation = np.random.uniform(0.5, 1.5)
        hsv = np.array(Image.fromarray(image).convert("HSV")).astype(np.float32)
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * saturation, 0, 255)
        image = np.array(Image.fromarray(hsv.astype(np.uint8), mode="HSV").convert("RGB"))

    # Convert back to float32 [0-1]
    image = image.astype(np.float32) / 255.0
    return image, boxes


class KiteDataset:
    def __init__(self, n, seed, augment):
        rng = np.random.default_rng(seed)
        self.augment = augment
        self.photos, self.boxes, self.classes = [], [], []
        for _ in range(n):
            sky = np.zeros((IMG, IMG, 3), np.float32)
            sky[:] = [120, 170, 235]
            sky += rng.normal(0, 12, sky.shape)
            s = int(rng.integers(5, 10))
            x0, y0 = rng.integers(0, IMG - s, size=2)
            c = int(rng.integers(NC))
            sky[y0:y0 + s, x0:x0 + s] = COLOURS[c] + rng.normal(0, 10, (s, s, 3))
            self.photos.append(np.clip(sky, 0, 255).astype(np.uint8))
            self.boxes.append(np.array([[x0 / IMG, y0 / IMG, (x0 + s) / IMG, (y0 + s) / IMG]], np.float32))
            self.classes.append(np.array([c]))

    def __len__(self):
        return len(self.photos)

    def _load_image(self, idx):
        image = np.array(self.photos[idx], dtype=np.float32) / 255.0
        boxes = self.boxes[idx].copy()
        if self.augment:
            image, boxes = augment_image(image, boxes)
            image = np.clip(image, 0, 1)
        return image, boxes

    def _convert_to_grid(self, boxes, classes):
        target = np.zeros((GRID, GRID, 5 + NC), dtype=np.float32)
        for box, cls in zip(boxes, classes):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            gx = min(GRID - 1, max(0, int(cx * GRID)))
            gy = min(GRID - 1, max(0, int(cy * GRID)))
            target[gy, gx, :4] = [cx * GRID - gx, cy * GRID - gy, box[2] - box[0], box[3] - box[1]]
            target[gy, gx, 4] = 1.0
            target[gy, gx, 5 + cls] = 1.0
        return target

    def __getitem__(self, idx):
        image, boxes = self._load_image(idx)
        return image, self._convert_to_grid(boxes, self.classes[idx])


def batches(ds, bs, shuffle):
    order = np.random.permutation(len(ds)) if shuffle else np.arange(len(ds))
    for i in range(0, len(ds) - bs + 1, bs):
        items = [ds[j] for j in order[i:i + bs]]
        yield mx.array(np.stack([a for a, _ in items])), mx.array(np.stack([b for _, b in items]))


class TinyYolo(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 48, 3, stride=2, padding=1)
        self.head = nn.Conv2d(48, 5 + NC, 1)

    def __call__(self, x):
        x = nn.leaky_relu(self.c1(x))
        x = nn.leaky_relu(self.c2(x))
        x = nn.leaky_relu(self.c3(x))
        return self.head(x)


def yolo_loss(model, x, t):
    p = model(x)
    obj = t[..., 4]
    coord = (((mx.sigmoid(p[..., :4]) - t[..., :4]) ** 2).sum(-1) * obj).sum() / obj.sum()
    conf = nn.losses.binary_cross_entropy(p[..., 4], obj, with_logits=True, reduction="mean")
    cls = (nn.losses.cross_entropy(p[..., 5:], mx.argmax(t[..., 5:], -1)) * obj).sum() / obj.sum()
    return 5.0 * coord + conf + cls, (coord, conf, cls)


def cell_accuracy(model, ds):
    hits = n = 0
    for x, t in batches(ds, 64, False):
        p = model(x)
        B = p.shape[0]
        pred_cell = mx.argmax(p[..., 4].reshape(B, -1), -1)
        true_cell = mx.argmax(t[..., 4].reshape(B, -1), -1)
        pc = mx.argmax(p[..., 5:].reshape(B, GRID * GRID, NC)[mx.arange(B), true_cell], -1)
        tc = mx.argmax(t[..., 5:].reshape(B, GRID * GRID, NC)[mx.arange(B), true_cell], -1)
        hits += ((pred_cell == true_cell) & (pc == tc)).sum().item()
        n += B
    return hits / n


def main():
    np.random.seed(3)
    mx.random.seed(3)
    train_ds = KiteDataset(768, seed=1, augment=True)
    val_ds = KiteDataset(256, seed=2, augment=False)
    model = TinyYolo()
    optimizer = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, yolo_loss)
    print(f"train {len(train_ds)}  val {len(val_ds)}  grid {GRID}x{GRID}  classes {KITE_CLASSES}")
    t0 = time.time()
    for epoch in range(1, 9):
        tot = [0.0, 0.0, 0.0, 0.0]
        nb = 0
        for x, t in batches(train_ds, 32, True):
            (loss, parts), grads = step(model, x, t)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss, parts)
            tot[0] += loss.item()
            for k in range(3):
                tot[k + 1] += parts[k].item()
            nb += 1
        acc = cell_accuracy(model, val_ds)
        print(f"epoch {epoch:2d} | loss {tot[0]/nb:.4f} (box {tot[1]/nb:.4f} obj {tot[2]/nb:.4f} cls {tot[3]/nb:.4f}) | val cell+class acc {100*acc:5.1f}% | {time.time()-t0:.1f}s")
    print("done")


if __name__ == "__main__":
    main()
