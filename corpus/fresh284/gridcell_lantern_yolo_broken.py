"""Tiny single-shot grid detector trained on synthetic lantern images.

Each 16x16 RGB image holds one glowing square lantern of one of three
colours; the net predicts, per 4x4 grid cell, two boxes (x, y, w, h, conf)
plus three class scores, in the YOLO-v1 layout.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

S, B, C = 4, 2, 3
IMG = 16
BATCH = 16
STEPS = 240


def make_batch(rng, n):
    imgs = rng.normal(0.0, 0.05, size=(n, IMG, IMG, 3)).astype(np.float32)
    targets = np.zeros((n, S, S, 5 + C), dtype=np.float32)
    for i in range(n):
        cls = rng.integers(C)
        size = rng.integers(3, 8)
        x0 = rng.integers(0, IMG - size)
        y0 = rng.integers(0, IMG - size)
        imgs[i, y0:y0 + size, x0:x0 + size, cls] += 1.0
        cx, cy = (x0 + size / 2) / IMG, (y0 + size / 2) / IMG
        gi, gj = min(int(cy * S), S - 1), min(int(cx * S), S - 1)
        targets[i, gi, gj, 0] = cx * S - gj
        targets[i, gi, gj, 1] = cy * S - gi
        targets[i, gi, gj, 2] = size / IMG
        targets[i, gi, gj, 3] = size / IMG
        targets[i, gi, gj, 4] = 1.0
        targets[i, gi, gj, 5 + cls] = 1.0
    return mx.array(imgs), mx.array(targets)


def pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm(32)
        self.fc = nn.Linear(S * S * 32, 256)
        self.out = nn.Linear(256, S * S * (B * 5 + C))

    def __call__(self, x):
        x = pool(nn.leaky_relu(self.bn1(self.conv1(x)), 0.1))   # 8x8
        x = pool(nn.leaky_relu(self.bn2(self.conv2(x)), 0.1))   # 4x4
        x = x.reshape(x.shape[0], -1)
        x = nn.leaky_relu(self.fc(x), 0.1)
        return self.out(x).reshape(-1, S, S, B * 5 + C)


def compute_iou(box1, box2):
    """
    Compute IOU between two boxes
    box format: [x, y, w, h]
    """
    x1 = mx.maximum(box1[..., 0] - box1[..., 2] / 2, box2[..., 0] - box2[..., 2] / 2)
    y1 = mx.maximum(box1[..., 1] - box1[..., 3] / 2, box2[..., 1] - box2[..., 3] / 2)
    x2 = mx.minimum(box1[..., 0] + box1[..., 2] / 2, box2[..., 0] + box2[..., 2] / 2)
    y2 = mx.minimum(box1[..., 1] + box1[..., 3] / 2, box2[..., 1] + box2[..., 3] / 2)

    intersection = mx.maximum(0.0, x2 - x1) * mx.maximum(0.0, y2 - y1)

    box1_area = box1[..., 2] * box1[..., 3]
    box2_area = box2[..., 2] * box2[..., 3]
    union = box1_area + box2_area - intersection

    return intersection / (union + 1e-6)


def yolo_loss(predictions, targets, lambda_coord=5.0, lambda_noobj=0.5):
    """
    Compute YOLO loss
    Args:
        predictions: Model predictions [batch, S, S, B*5 + C]
        targets: Ground truth [batch, S, S, 5 + C]
    """
    S = predictions.shape[1]  # Grid size
    B = 2  # Number of boxes per cell

    pred_boxes = mx.reshape(predictions[..., : B * 5], (-1, S, S, B, 5))
    pred_classes = predictions[..., B * 5 :]

    # Get target components
    target_boxes = mx.expand_dims(targets[..., :4], axis=3)  # [batch, S, S, 1, 4]
    target_obj = mx.expand_dims(targets[..., 4], axis=3)  # [batch, S, S, 1]
    target_classes = targets[..., 5:]  # [batch, S, S, C]

    # Compute IOUs for all predicted boxes with target
    ious = mx.stack(
        [
            compute_iou(pred_boxes[..., i, :4], target_boxes[..., 0, :])
            for i in range(B)
        ],
        axis=-1,
    )  # [batch, S, S, B]

    # Find best box for each target
    best_box_ious = mx.max(ious, axis=-1, keepdims=True)
    best_box_mask = ious >= best_box_ious  # [batch, S, S, B]

    # Coordinate loss (only for cells with objects)
    coord_mask = mx.repeat(target_obj, B, axis=-1) * best_box_mask  # [batch, S, S, B]
    coord_loss = (
        lambda_coord
        * coord_mask
        * (
            mx.sum(
                (pred_boxes[..., :2] - mx.expand_dims(target_boxes[..., :2], axis=3))
                ** 2,
                axis=-1,
            )
            + mx.sum(
                (
                    mx.sqrt(pred_boxes[..., 2:4])
                    - mx.sqrt(mx.expand_dims(target_boxes[..., 2:4], axis=3))
                )
                ** 2,
                axis=-1,
            )
        )
    )

    # Confidence loss
    conf_mask = mx.repeat(target_obj, B, axis=-1)  # [batch, S, S, B]
    noobj_mask = 1 - conf_mask

    conf_loss = (
        conf_mask * (pred_boxes[..., 4] - ious) ** 2  # Object confidence loss
        + lambda_noobj * noobj_mask * pred_boxes[..., 4] ** 2  # No object confidence loss
    )

    # Class loss (only for cells with objects)
    class_loss = target_obj[..., 0] * mx.sum(
        (pred_classes - target_classes) ** 2, axis=-1
    )

    total_loss = mx.mean(
        mx.sum(coord_loss, axis=-1) + mx.sum(conf_loss, axis=-1) + class_loss
    )
    return total_loss


def evaluate(model, imgs, targets):
    """Mean IoU of the most confident box against the lantern, and class accuracy."""
    preds = model(imgs)
    pb = preds[..., : B * 5].reshape(-1, S * S * B, 5)
    best = mx.argmax(pb[..., 4], axis=-1)
    n = imgs.shape[0]
    box = pb[mx.arange(n), best]
    cell = best // B
    gi, gj = cell // S, cell % S
    # absolute coordinates of the prediction
    px = (box[:, 0] + gj) / S
    py = (box[:, 1] + gi) / S
    t = targets.reshape(-1, S * S, 5 + C)
    tcell = mx.argmax(t[..., 4], axis=-1)
    tb = t[mx.arange(n), tcell]
    tx = (tb[:, 0] + tcell % S) / S
    ty = (tb[:, 1] + tcell // S) / S
    iou = compute_iou(
        mx.stack([px, py, box[:, 2], box[:, 3]], axis=-1),
        mx.stack([tx, ty, tb[:, 2], tb[:, 3]], axis=-1),
    )
    pcls = mx.argmax(preds.reshape(-1, S * S, B * 5 + C)[mx.arange(n), tcell, B * 5 :], axis=-1)
    acc = mx.mean(pcls == mx.argmax(tb[:, 5:], axis=-1))
    return mx.mean(iou).item(), acc.item()


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = Detector()
    optimizer = optim.Adam(learning_rate=1e-3)
    val_imgs, val_targets = make_batch(np.random.default_rng(123), 256)

    def loss_fn(model, images, targets):
        return yolo_loss(model(images), targets)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    print(f"Creating model... grid {S}x{S}, {B} boxes/cell, {C} classes, batch {BATCH}")
    tic = time.time()
    running = 0.0
    for step in range(1, STEPS + 1):
        model.train()
        images, targets = make_batch(rng, BATCH)
        loss, grads = loss_and_grad(model, images, targets)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        running += loss.item()
        if step % 30 == 0:
            model.eval()
            miou, acc = evaluate(model, val_imgs, val_targets)
            print(
                f"Step [{step}/{STEPS}] Loss: {running / 30:.4f}  "
                f"val mIoU: {miou:.3f}  val cls acc: {acc:.3f}  ({time.time() - tic:.1f}s)"
            )
            running = 0.0
    model.eval()
    miou, acc = evaluate(model, val_imgs, val_targets)
    print(f"Final: val mIoU {miou:.3f}, val class accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
