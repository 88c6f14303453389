"""Orchard crate inspection: locate one fruit per top-down crate photo on a 4x4 grid
(YOLO-style, anchors, per-cell box + objectness + fruit class). Synthetic 32x32 photos."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FRUITS = ["apple", "pear", "plum"]
IMG, S, B, C = 32, 4, 2, 3


def make_photos(n, seed):
    rng = np.random.default_rng(seed)
    imgs = rng.normal(0.0, 0.15, size=(n, IMG, IMG, 3)).astype(np.float32)
    targets = np.zeros((n, S, S, 5 + C), dtype=np.float32)
    for i in range(n):
        cls = rng.integers(C)
        w, h = rng.uniform(0.15, 0.45, size=2)
        cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
        x0, x1 = int((cx - w / 2) * IMG), int((cx + w / 2) * IMG)
        y0, y1 = int((cy - h / 2) * IMG), int((cy + h / 2) * IMG)
        imgs[i, y0:y1, x0:x1, cls] += 1.0
        gx, gy = min(int(cx * S), S - 1), min(int(cy * S), S - 1)
        targets[i, gy, gx, 0:2] = [cx * S - gx, cy * S - gy]
        targets[i, gy, gx, 2:4] = [w, h]
        targets[i, gy, gx, 4] = 1.0
        targets[i, gy, gx, 5 + cls] = 1.0
    return imgs, targets


class CrateLoader:
    def __init__(self, imgs, targets, batch_size, shuffle=True, seed=0):
        self.imgs, self.targets = imgs, targets
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.imgs) // self.batch_size

    def __iter__(self):
        idx = self.rng.permutation(len(self.imgs)) if self.shuffle else np.arange(len(self.imgs))
        for k in range(len(self)):
            j = idx[k * self.batch_size:(k + 1) * self.batch_size]
            yield mx.array(self.imgs[j]), mx.array(self.targets[j])


def create_data_loader(imgs, targets, batch_size, shuffle=True):
    return CrateLoader(imgs, targets, batch_size, shuffle)


class YOLO(nn.Module):
    def __init__(self, S=S, B=B, C=C):
        super().__init__()
        self.S, self.B, self.C = S, B, C
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)   # 16x16
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)  # 8x8
        self.c3 = nn.Conv2d(32, 32, 3, stride=2, padding=1)  # 4x4
        self.head = nn.Conv2d(32, B * (5 + C), 1)
        self.anchors = mx.array([[0.2, 0.2], [0.4, 0.4]])

    def __call__(self, x):
        x = nn.leaky_relu(self.c1(x), 0.1)
        x = nn.leaky_relu(self.c2(x), 0.1)
        x = nn.leaky_relu(self.c3(x), 0.1)
        return self.head(x)  # [batch, S, S, B*(5+C)]


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
    ious = mx.squeeze(compute_box_iou(pred_boxes, target_boxes), axis=-1)
    best_ious = mx.max(ious, axis=3, keepdims=True)
    box_mask = ious >= best_ious
    obj_mask = mx.broadcast_to(mx.expand_dims(obj_mask, axis=3), (batch_size, S, S, B))
    box_mask = box_mask * obj_mask

    xy_loss = mx.sum(box_mask * mx.sum(mx.square(pred_xy - target_xy), axis=-1)) / batch_size
    wh_loss = mx.sum(box_mask * mx.sum(mx.square(mx.sqrt(pred_wh) - mx.sqrt(target_wh)), axis=-1)) / batch_size
    conf_loss = mx.sum(box_mask * mx.square(pred_conf - mx.stop_gradient(ious))) / batch_size
    noobj_loss = mx.sum((1 - box_mask) * mx.square(pred_conf)) / batch_size
    class_loss = mx.sum(box_mask * mx.sum(mx.square(pred_classes - target_classes), axis=-1)) / batch_size
    total = 5.0 * (xy_loss + wh_loss) + conf_loss + 0.5 * noobj_loss + class_loss
    mean_iou = mx.sum(box_mask * ious) / mx.maximum(mx.sum(box_mask), 1.0)
    components = {"xy": xy_loss, "wh": wh_loss, "conf": conf_loss + noobj_loss, "class": class_loss, "iou": mean_iou}
    return total, components


def format_loss_components(c):
    return (f"XY: {c['xy']:.4f}, WH: {c['wh']:.4f}, Conf: {c['conf']:.4f}, "
            f"Class: {c['class']:.4f}, IoU: {c['iou']:.4f}")


def train_step(model, batch, optimizer):
    images, targets = batch

    def loss_fn(params, images, targets):
        model.update(params)
        predictions = model(images)
        return yolo_loss(predictions, targets, model)

    (loss_val, components), grads = mx.value_and_grad(loss_fn)(model.parameters(), images, targets)
    optimizer.update(model, grads)
    mx.eval(loss_val, components, model.parameters(), optimizer.state)
    if not mx.isfinite(loss_val).all().item():
        print("Warning: Loss is not finite!")
    return loss_val, {k: v.item() for k, v in components.items()}


def validate(model, val_loader):
    model.eval()
    totals = {"total": 0, "xy": 0, "wh": 0, "conf": 0, "class": 0, "iou": 0}
    n = 0
    for images, targets in val_loader:
        loss, comps = yolo_loss(model(images), targets, model)
        totals["total"] += loss.item()
        for k in comps:
            totals[k] += comps[k].item()
        n += 1
    return {k: v / n for k, v in totals.items()}


def train_epoch(model, train_loader, optimizer, batch_size):
    model.train()
    epoch_losses = {"total": 0, "xy": 0, "wh": 0, "conf": 0, "class": 0, "iou": 0}
    num_batches = 0
    start_time = time.time()

    for batch_idx, batch in batch_size:
        loss, components = train_step(model, batch, optimizer)
        current_loss = loss.item()
        epoch_losses["total"] += current_loss
        for k in ["xy", "wh", "conf", "class", "iou"]:
            if k in components:
                epoch_losses[k] += components[k]
        num_batches += 1
        if batch_idx % 20 == 0:
            print(f"  batch {batch_idx}/{len(train_loader)} loss {current_loss:.4f} avg {epoch_losses['total'] / num_batches:.4f}")

    for k in epoch_losses:
        epoch_losses[k] /= max(num_batches, 1)
    return epoch_losses, time.time() - start_time


def main():
    mx.random.seed(0)
    batch_size = 16
    tr_x, tr_y = make_photos(960, seed=1)
    va_x, va_y = make_photos(192, seed=2)
    train_loader = create_data_loader(tr_x, tr_y, batch_size=batch_size, shuffle=True)
    val_loader = create_data_loader(va_x, va_y, batch_size=batch_size, shuffle=False)
    print(f"crate photos: train {len(tr_x)}, val {len(va_x)}, grid {S}x{S}, anchors {B}, fruits {FRUITS}")
    print(f"batches per epoch: {len(train_loader)} (batch size {batch_size})")

    model = YOLO()
    optimizer = optim.Adam(learning_rate=2e-3)
    best_val = float("inf")
    for epoch in range(8):
        print(f"\nEpoch {epoch + 1}/8")
        epoch_losses, epoch_time = train_epoch(model, train_loader, optimizer, batch_size=batch_size)
        val = validate(model, val_loader)
        flag = ""
        if val["total"] < best_val:
            best_val, flag = val["total"], " *best"
        print(f"Train Loss: {epoch_losses['total']:.4f}  [{format_loss_components(epoch_losses)}]  {epoch_time:.1f}s")
        print(f"Val Loss:   {val['total']:.4f}  [{format_loss_components(val)}]{flag}")
    print(f"\ndone: best val loss {best_val:.4f}")


if __name__ == "__main__":
    main()
