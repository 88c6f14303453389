# Tiny YOLOv2-style detector on synthetic "kelp float" images: one coloured square per image,
# grid S=4, B=2 anchors, C=3 classes. Loss adapted from a YOLOv2 loss written for MLX.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
IMG, S, B, C = 32, 4, 2, 3


def make_batch(n):
    x = rng.normal(0, 0.05, size=(n, IMG, IMG, 3)).astype(np.float32)
    t = np.zeros((n, S, S, 5 + C), dtype=np.float32)
    for i in range(n):
        c = rng.integers(C)
        w = rng.uniform(0.2, 0.45)
        h = rng.uniform(0.2, 0.45)
        cx = rng.uniform(w / 2, 1 - w / 2)
        cy = rng.uniform(h / 2, 1 - h / 2)
        x0, x1 = int((cx - w / 2) * IMG), int((cx + w / 2) * IMG)
        y0, y1 = int((cy - h / 2) * IMG), int((cy + h / 2) * IMG)
        x[i, y0:y1, x0:x1, c] += 1.0
        gx, gy = min(int(cx * S), S - 1), min(int(cy * S), S - 1)
        t[i, gy, gx, 0] = cx * S - gx
        t[i, gy, gx, 1] = cy * S - gy
        t[i, gy, gx, 2] = w
        t[i, gy, gx, 3] = h
        t[i, gy, gx, 4] = 1.0
        t[i, gy, gx, 5 + c] = 1.0
    return mx.array(x), mx.array(t)


class TinyYolo(nn.Module):
    def __init__(self):
        super().__init__()
        self.S, self.B, self.C = S, B, C
        self.anchors = mx.array([[0.25, 0.25], [0.4, 0.4]])
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Conv2d(32, B * (5 + C), 1)

    def __call__(self, x):
        x = self._pool(nn.relu(self.c1(x)))
        x = self._pool(nn.relu(self.c2(x)))
        x = self._pool(nn.relu(self.c3(x)))
        return self.head(x)  # [batch, S, S, B*(5+C)]

    def _pool(self, x):
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def compute_box_iou(boxes1, boxes2):
    b1x1 = boxes1[..., 0:1] - boxes1[..., 2:3] / 2
    b1y1 = boxes1[..., 1:2] - boxes1[..., 3:4] / 2
    b1x2 = boxes1[..., 0:1] + boxes1[..., 2:3] / 2
    b1y2 = boxes1[..., 1:2] + boxes1[..., 3:4] / 2
    b2x1 = boxes2[..., 0:1] - boxes2[..., 2:3] / 2
    b2y1 = boxes2[..., 1:2] - boxes2[..., 3:4] / 2
    b2x2 = boxes2[..., 0:1] + boxes2[..., 2:3] / 2
    b2y2 = boxes2[..., 1:2] + boxes2[..., 3:4] / 2
    iw = mx.maximum(mx.minimum(b1x2, b2x2) - mx.maximum(b1x1, b2x1), 0)
    ih = mx.maximum(mx.minimum(b1y2, b2y2) - mx.maximum(b1y1, b2y1), 0)
    inter = iw * ih
    union = boxes1[..., 2:3] * boxes1[..., 3:4] + boxes2[..., 2:3] * boxes2[..., 3:4] - inter
    return inter / (union + 1e-6)


def yolo_loss(predictions, targets, model):
    batch_size = predictions.shape[0]
    S, B, C = model.S, model.B, model.C
    pred = mx.reshape(predictions, (batch_size, S, S, B, 5 + C))
    pred_xy = mx.sigmoid(mx.clip(pred[..., 0:2], -10, 10))
    pred_wh = model.anchors * mx.exp(mx.clip(pred[..., 2:4], -10, 10))
    pred_conf = mx.sigmoid(mx.clip(pred[..., 4], -10, 10))
    pred_classes = mx.softmax(mx.clip(pred[..., 5:], -10, 10), axis=-1)

    target_xy = mx.expand_dims(targets[..., 0:2], axis=3)
    target_wh = mx.expand_dims(targets[..., 2:4], axis=3)
    obj_mask = targets[..., 4]  # [batch,S,S]
    target_classes = mx.expand_dims(targets[..., 5:], axis=3)

    pred_boxes = mx.concatenate([pred_xy / S, pred_wh], axis=-1)
    target_boxes = mx.concatenate([target_xy / S, target_wh], axis=-1)
    ious = compute_box_iou(pred_boxes, target_boxes)

    # responsible predictor
    best_ious = mx.max(ious, axis=3, keepdims=True)
    box_mask = ious >= best_ious

    # Expand obj_mask for broadcasting with box_mask
    obj_mask = mx.expand_dims(obj_mask, axis=3)  # [batch,S,S,1]
    obj_mask = mx.broadcast_to(obj_mask, (batch_size, S, S, B))  # [batch,S,S,B]

    # Combine masks
    box_mask = mx.squeeze(box_mask, axis=-1) * obj_mask  # [batch,S,S,B]

    xy_loss = box_mask * mx.sum(mx.square(pred_xy - target_xy), axis=-1)
    wh_loss = box_mask * mx.sum(mx.square(pred_wh - target_wh), axis=-1)
    conf_loss = box_mask * mx.square(pred_conf - 1) + (1 - box_mask) * mx.square(pred_conf) * 0.5
    class_loss = obj_mask * mx.sum(mx.square(pred_classes - target_classes), axis=-1)
    total = 5.0 * (xy_loss + wh_loss) + conf_loss + class_loss
    parts = {
        "xy": mx.mean(xy_loss),
        "wh": mx.mean(wh_loss),
        "conf": mx.mean(conf_loss),
        "class": mx.mean(class_loss),
        "iou": mx.mean(mx.squeeze(ious, axis=-1) * box_mask),
    }
    return mx.mean(total), parts


model = TinyYolo()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=2e-3)


def loss_fn(m, x, t):
    return yolo_loss(m(x), t, m)


loss_and_grad = nn.value_and_grad(model, loss_fn)

val_x, val_t = make_batch(64)
t0 = time.time()
print("epoch | loss     | xy      wh      conf    class  | val_iou(obj cells)")
for epoch in range(1, 13):
    tot = 0.0
    for it in range(10):
        x, t = make_batch(16)
        (loss, parts), grads = loss_and_grad(model, x, t)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss, parts)
        tot += loss.item()
    _, vp = loss_fn(model, val_x, val_t)
    n_obj = val_t[..., 4].sum().item()
    viou = vp["iou"].item() * val_t.shape[0] * S * S * B / n_obj
    print(f"{epoch:5d} | {tot/10:.5f}  | {parts['xy'].item():.4f}  {parts['wh'].item():.4f}  "
          f"{parts['conf'].item():.4f}  {parts['class'].item():.4f} | {viou:.3f}")
print(f"done in {time.time()-t0:.1f}s")
