# Tiny YOLO-style grid detector on synthetic "blob" images (MLX).
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

S, B, C, IMG = 4, 2, 3, 16
rng = np.random.default_rng(3)


def make_batch(n):
    imgs = np.zeros((n, IMG, IMG, 1), np.float32)
    tgt = np.zeros((n, S, S, 5 + C), np.float32)
    cell = IMG // S
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            gy, gx = rng.integers(0, S, 2)
            k = rng.integers(0, C)
            sz = 2 + k
            y0, x0 = gy * cell, gx * cell
            imgs[i, y0:y0 + sz, x0:x0 + sz, 0] = 1.0
            tgt[i, gy, gx, :5] = [sz / (2 * cell), sz / (2 * cell), sz / IMG, sz / IMG, 1.0]
            tgt[i, gy, gx, 5 + k] = 1.0
    return mx.array(imgs), mx.array(tgt)


class GridNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.S, self.B, self.C = S, B, C
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.head = nn.Conv2d(32, B * 5 + C, 1)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        return self.head(x)


def compute_box_iou(a, b):
    a1, a2 = a[..., :2] - a[..., 2:4] / 2, a[..., :2] + a[..., 2:4] / 2
    b1, b2 = b[..., :2] - b[..., 2:4] / 2, b[..., :2] + b[..., 2:4] / 2
    wh = mx.maximum(mx.minimum(a2, b2) - mx.maximum(a1, b1), 0)
    inter = wh[..., 0] * wh[..., 1]
    ua = mx.abs(a[..., 2] * a[..., 3]) + b[..., 2] * b[..., 3] - inter
    return inter / (ua + 1e-6)


def yolo_loss(predictions, targets, model, lambda_coord=10.0, lambda_noobj=1.0):
    batch_size = predictions.shape[0]
    S, B, C = model.S, model.B, model.C
    pred_boxes = predictions[..., :B * 5].reshape(batch_size, S, S, B, 5)
    pred_classes = predictions[..., B * 5:]
    target_boxes = targets[..., :5]
    target_classes = targets[..., 5:]

    pred_r = pred_boxes[..., :4].reshape(batch_size, S * S * B, 4)
    tgt_r = mx.repeat(mx.expand_dims(target_boxes[..., :4], axis=3), B, axis=3)
    tgt_r = tgt_r.reshape(batch_size, S * S * B, 4)
    ious = compute_box_iou(pred_r, tgt_r).reshape(batch_size, S, S, B)
    ious = mx.stop_gradient(ious)

    # Find responsible box (box with highest IoU)
    best_ious_idx = mx.argmax(ious, axis=3)
    best_box_mask = mx.zeros((batch_size, S, S, B))
    # Create indices for the batch and spatial dimensions
    batch_idx = mx.arange(batch_size)[:, None, None]
    y_idx = mx.arange(S)[None, :, None]
    x_idx = mx.arange(S)[None, None, :]
    batch_idx = mx.broadcast_to(batch_idx, (batch_size, S, S))
    y_idx = mx.broadcast_to(y_idx, (batch_size, S, S))
    x_idx = mx.broadcast_to(x_idx, (batch_size, S, S))
    # Create one-hot encoding for best box
    for b in range(B):
        mask = (best_ious_idx == b)
        best_box_mask = best_box_mask.at[batch_idx, y_idx, x_idx, b].set(mask)

    obj_mask = target_boxes[..., 4:5]
    noobj_mask = 1 - obj_mask
    box_loss = mx.expand_dims(obj_mask, -1) * mx.square(
        pred_boxes[..., :4] - mx.expand_dims(target_boxes[..., :4], 3))
    box_loss = lambda_coord * mx.sum(box_loss)
    conf_obj = obj_mask * mx.square(pred_boxes[..., 4] - ious)
    conf_noobj = noobj_mask * mx.square(pred_boxes[..., 4])
    conf_loss = mx.sum(conf_obj + lambda_noobj * conf_noobj)
    logp = pred_classes - mx.logsumexp(pred_classes, axis=-1, keepdims=True)
    class_loss = mx.sum(obj_mask[..., 0] * -mx.sum(target_classes * logp, axis=-1))
    return (box_loss + conf_loss + class_loss) / batch_size


model = GridNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=5e-3)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: yolo_loss(m(x), y, m))

xv, yv = make_batch(64)
for step in range(1, 161):
    x, y = make_batch(16)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 20 == 0:
        pv = model(xv)
        vl = yolo_loss(pv, yv, model)
        obj = yv[..., 4] > 0
        cls_ok = (mx.argmax(pv[..., B * 5:], axis=-1) == mx.argmax(yv[..., 5:], axis=-1))
        acc = mx.sum(cls_ok * obj) / mx.sum(obj)
        print(f"step {step:4d}  train_loss {loss.item():8.4f}  val_loss {vl.item():8.4f}  obj_cls_acc {acc.item():.3f}")
print("done")
