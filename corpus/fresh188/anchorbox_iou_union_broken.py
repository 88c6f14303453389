"""Tiny YOLOv2-style detector on synthetic one-object images (MLX)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S, B, C = 4, 2, 3
IMG = 16
rng = np.random.default_rng(0)


def compute_box_iou(boxes1, boxes2):
    """boxes1, boxes2: [batch, num_boxes, 4] as [x, y, w, h]"""
    boxes1_x1 = boxes1[..., 0:1] - boxes1[..., 2:3] / 2
    boxes1_y1 = boxes1[..., 1:2] - boxes1[..., 3:4] / 2
    boxes1_x2 = boxes1[..., 0:1] + boxes1[..., 2:3] / 2
    boxes1_y2 = boxes1[..., 1:2] + boxes1[..., 3:4] / 2
    boxes2_x1 = boxes2[..., 0:1] - boxes2[..., 2:3] / 2
    boxes2_y1 = boxes2[..., 1:2] - boxes2[..., 3:4] / 2
    boxes2_x2 = boxes2[..., 0:1] + boxes2[..., 2:3] / 2
    boxes2_y2 = boxes2[..., 1:2] + boxes2[..., 3:4] / 2
    inter_x1 = mx.maximum(boxes1_x1, boxes2_x1)
    inter_y1 = mx.maximum(boxes1_y1, boxes2_y1)
    inter_x2 = mx.minimum(boxes1_x2, boxes2_x2)
    inter_y2 = mx.minimum(boxes1_y2, boxes2_y2)
    inter_w = mx.maximum(0, inter_x2 - inter_x1)
    inter_h = mx.maximum(0, inter_y2 - inter_y1)
    intersection = inter_w * inter_h
    # Union area
    boxes1_area = (boxes1[..., 2] * boxes1[..., 3])
    boxes2_area = (boxes2[..., 2] * boxes2[..., 3])
    union = boxes1_area + boxes2_area - intersection
    iou = intersection / (union + 1e-6)
    return mx.clip(iou, 0, 1)


class TinyYOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.S, self.B, self.C = S, B, C
        self.anchors = mx.array([[0.15, 0.15], [0.35, 0.35]])
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.head = nn.Conv2d(32, B * (5 + C), 1)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        return self.head(x)  # [batch, S, S, B*(5+C)]


def yolo_loss(predictions, targets, model, lambda_coord=5.0):
    bsz = predictions.shape[0]
    predictions = mx.reshape(predictions, (bsz, S, S, B, 5 + C))
    targets = mx.reshape(targets, (bsz, S, S, B, 5 + C))
    pred_xy = mx.sigmoid(predictions[..., 0:2])
    pred_wh = mx.clip(predictions[..., 2:4], -4, 4)
    pred_conf = mx.sigmoid(predictions[..., 4:5])
    pred_cls = predictions[..., 5:]
    targ_xy, targ_wh = targets[..., 0:2], targets[..., 2:4]
    obj_mask = targets[..., 4:5]
    targ_cls = mx.argmax(targets[..., 5:], axis=-1)
    gx, gy = mx.meshgrid(mx.arange(S, dtype=mx.float32), mx.arange(S, dtype=mx.float32))
    grid_xy = mx.expand_dims(mx.stack([gx, gy], axis=-1), axis=2)
    pred_boxes = mx.concatenate([(pred_xy + grid_xy) / S, mx.exp(pred_wh) * model.anchors], axis=-1)
    targ_boxes = mx.concatenate([(targ_xy + grid_xy) / S, targ_wh * model.anchors], axis=-1)
    ious = compute_box_iou(
        mx.reshape(pred_boxes, (-1, S * S * B, 4)),
        mx.reshape(targ_boxes, (-1, S * S * B, 4)),
    )
    ious = mx.reshape(ious, (bsz, S, S, B, 1))
    ious = mx.stop_gradient(ious)
    n_obj = mx.sum(obj_mask) + 1e-6
    coord = mx.sum(obj_mask * ((pred_xy - targ_xy) ** 2 + (pred_wh - mx.log(targ_wh + 1e-6)) ** 2)) / n_obj
    obj = mx.sum(obj_mask * (pred_conf - ious) ** 2) / n_obj
    noobj = mx.sum((1 - obj_mask) * pred_conf ** 2) / mx.sum(1 - obj_mask)
    ce = nn.losses.cross_entropy(pred_cls, targ_cls)[..., None]
    cls = mx.sum(obj_mask * ce) / n_obj
    total = lambda_coord * coord + obj + 0.5 * noobj + cls
    return total, mx.sum(obj_mask * ious) / n_obj


def make_batch(n):
    imgs = np.zeros((n, IMG, IMG, 1), np.float32)
    tg = np.zeros((n, S, S, B, 5 + C), np.float32)
    anchors = np.array([0.15, 0.35])
    for i in range(n):
        k = rng.integers(C)
        size = [3, 5, 7][k]
        cx, cy = rng.uniform(size / 2, IMG - size / 2, 2)
        x0, y0 = int(cx - size / 2), int(cy - size / 2)
        imgs[i, y0:y0 + size, x0:x0 + size, 0] = 1.0
        w = size / IMG
        a = int(np.argmin(abs(anchors - w)))
        gx, gy = min(int(cx / IMG * S), S - 1), min(int(cy / IMG * S), S - 1)
        tg[i, gy, gx, a, 0] = cx / IMG * S - gx
        tg[i, gy, gx, a, 1] = cy / IMG * S - gy
        tg[i, gy, gx, a, 2:4] = w / anchors[a]
        tg[i, gy, gx, a, 4] = 1.0
        tg[i, gy, gx, a, 5 + k] = 1.0
    return mx.array(imgs), mx.array(tg.reshape(n, S, S, B * (5 + C)))


model = TinyYOLO()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(m, x, y):
    return yolo_loss(m(x), y, m)


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, 301):
    x, y = make_batch(32)
    (loss, miou), grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, miou)
    if it % 25 == 0:
        print(f"iter {it:4d} | loss {loss.item():.4f} | mean IoU(obj) {miou.item():.3f} | {time.time() - t0:.1f}s")
print("done")
