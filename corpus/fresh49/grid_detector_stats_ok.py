"""Toy single-shot grid detector (YOLO-v2 style head with 2 anchors) on
synthetic 32x32 images containing one bright shape (square / bar / cross)."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

IMG, S, B, C = 32, 4, 2, 3
rng = np.random.default_rng(3)


def draw(kind, size):
    m = np.zeros((size, size), np.float32)
    if kind == 0:                      # filled square
        m[:] = 1.0
    elif kind == 1:                    # horizontal bar
        m[size // 3: size - size // 3, :] = 1.0
    else:                              # cross
        m[size // 2 - 1: size // 2 + 1, :] = 1.0
        m[:, size // 2 - 1: size // 2 + 1] = 1.0
    return m


def make_dataset(n):
    xs = np.zeros((n, IMG, IMG, 1), np.float32)
    ys = np.zeros((n, S, S, 5 + C), np.float32)
    cell = IMG / S
    for i in range(n):
        kind = rng.integers(0, C)
        size = int(rng.integers(6, 15))
        x0 = int(rng.integers(0, IMG - size))
        y0 = int(rng.integers(0, IMG - size))
        xs[i, y0:y0 + size, x0:x0 + size, 0] = draw(kind, size)
        xs[i] += 0.1 * rng.standard_normal((IMG, IMG, 1)).astype(np.float32)
        cx, cy = x0 + size / 2, y0 + size / 2
        gi, gj = int(cy // cell), int(cx // cell)
        ys[i, gi, gj, 0] = cx / cell - gj
        ys[i, gi, gj, 1] = cy / cell - gi
        ys[i, gi, gj, 2:4] = size / IMG
        ys[i, gi, gj, 4] = 1.0
        ys[i, gi, gj, 5 + kind] = 1.0
    return mx.array(xs), mx.array(ys)


class TinyYolo(nn.Module):
    def __init__(self):
        super().__init__()
        self.S, self.B, self.C = S, B, C
        self.anchors = mx.array([[0.25, 0.25], [0.4, 0.4]])
        self.c1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.head = nn.Conv2d(32, B * (5 + C), 1)

    def __call__(self, x):
        x = nn.leaky_relu(self.c1(x), 0.1)
        x = nn.leaky_relu(self.c2(x), 0.1)
        x = nn.leaky_relu(self.c3(x), 0.1)
        return self.head(x)


def box_iou(b1, b2):
    b1_min, b1_max = b1[..., :2] - b1[..., 2:4] / 2, b1[..., :2] + b1[..., 2:4] / 2
    b2_min, b2_max = b2[..., :2] - b2[..., 2:4] / 2, b2[..., :2] + b2[..., 2:4] / 2
    inter = mx.maximum(mx.minimum(b1_max, b2_max) - mx.maximum(b1_min, b2_min), 0)
    inter = inter[..., 0] * inter[..., 1]
    union = b1[..., 2] * b1[..., 3] + b2[..., 2] * b2[..., 3] - inter
    return mx.expand_dims(inter / (union + 1e-6), -1)


def yolo_loss(predictions, targets, model):
    batch_size = predictions.shape[0]
    S, B, C = model.S, model.B, model.C
    eps = 1e-6
    pred = mx.reshape(predictions, (batch_size, S, S, B, 5 + C))
    pred_xy = mx.sigmoid(mx.clip(pred[..., 0:2], -10, 10))
    anchor_wh = mx.broadcast_to(model.anchors.reshape(1, 1, 1, B, 2), (batch_size, S, S, B, 2))
    pred_wh = mx.clip(anchor_wh * mx.exp(mx.clip(pred[..., 2:4], -1.0, 1.0)), eps, 1.0 - eps)
    pred_conf = mx.sigmoid(mx.clip(pred[..., 4], -5, 5))
    pred_classes = mx.softmax(mx.clip(pred[..., 5:], -10, 10), axis=-1)

    target_xy = mx.expand_dims(targets[..., 0:2], axis=3)
    target_wh = mx.expand_dims(targets[..., 2:4], axis=3)
    obj_mask = targets[..., 4]
    target_classes = mx.expand_dims(targets[..., 5:], axis=3)

    pred_boxes = mx.concatenate([pred_xy, pred_wh], axis=-1)
    target_boxes = mx.concatenate([target_xy, target_wh], axis=-1)
    ious = mx.squeeze(box_iou(pred_boxes, target_boxes), axis=-1)  # [batch,S,S,B]

    # responsible predictor
    best_ious = mx.max(ious, axis=3, keepdims=True)
    box_mask = ious >= best_ious  # [batch,S,S,B]

    obj_mask = mx.expand_dims(obj_mask, axis=3)
    obj_mask = mx.broadcast_to(obj_mask, (batch_size, S, S, B))  # [batch,S,S,B]

    box_mask = box_mask * obj_mask

    wh_loss = box_mask * mx.sum(mx.square(pred_wh - target_wh), axis=-1)
    xy_loss = box_mask * mx.sum(mx.square(pred_xy - target_xy), axis=-1)
    conf_loss = box_mask * mx.square(pred_conf - 1) + (1 - box_mask) * mx.square(pred_conf) * 0.5
    class_loss = obj_mask * mx.sum(mx.square(pred_classes - target_classes), axis=-1)
    total_loss = 5.0 * xy_loss + 5.0 * wh_loss + conf_loss + class_loss

    return mx.mean(total_loss), {
        "xy": mx.mean(xy_loss).item(),
        "wh": mx.mean(wh_loss).item(),
        "conf": mx.mean(conf_loss).item(),
        "class": mx.mean(class_loss).item(),
        "box_mask_stats": {
            "active": mx.sum(box_mask).item(),
            "total": len(box_mask),
        },
    }


def detection_metrics(model, x, y):
    """Cell hit rate + class accuracy + mean IoU of the best box in the object cell."""
    out = model(x)
    n = x.shape[0]
    pred = out.reshape(n, S, S, B, 5 + C)
    conf = mx.sigmoid(pred[..., 4]).max(axis=-1).reshape(n, -1)
    obj = y[..., 4].reshape(n, -1)
    hit = (mx.argmax(conf, axis=1) == mx.argmax(obj, axis=1)).mean().item()
    cls_pred = mx.argmax(pred[..., 5:].mean(axis=3), axis=-1).reshape(n, -1)
    cls_true = mx.argmax(y[..., 5:], axis=-1).reshape(n, -1)
    cell = mx.argmax(obj, axis=1)
    rows = mx.arange(n)
    cls_acc = (cls_pred[rows, cell] == cls_true[rows, cell]).mean().item()
    return hit, cls_acc


def main():
    mx.random.seed(1)
    x_tr, y_tr = make_dataset(1536)
    x_va, y_va = make_dataset(256)
    model = TinyYolo()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(model, x, y):
        return yolo_loss(model(x), y, model)

    step_fn = nn.value_and_grad(model, loss_fn)
    hit, acc = detection_metrics(model, x_va, y_va)
    print(f"[init] val cell-hit {hit:.3f}  val class-acc {acc:.3f}")
    bs, t0 = 64, time.time()
    for epoch in range(1, 16):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        tot, nb = 0.0, 0
        for s in range(0, x_tr.shape[0], bs):
            idx = perm[s:s + bs]
            (loss, stats), grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        hit, acc = detection_metrics(model, x_va, y_va)
        bm = stats["box_mask_stats"]
        print(f"[ep {epoch:2d}] loss {tot / nb:.4f} (xy {stats['xy']:.4f} wh {stats['wh']:.4f} "
              f"conf {stats['conf']:.4f} cls {stats['class']:.4f}) active {bm['active']:.0f}/{bm['total']} "
              f"| val cell-hit {hit:.3f} class-acc {acc:.3f} | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
