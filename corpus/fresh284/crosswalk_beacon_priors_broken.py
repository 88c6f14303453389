"""Tiny SSD-style single-class detector ("pedestrian") on synthetic street crops.

Images come in assorted sizes, get resized to 32x32, and boxes are matched to
prior boxes on three feature maps. Trained with Adam, then scored on a held-out
split by the IoU of the top-scoring decoded box.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SIZE = 32
mx.random.seed(7)
rng = np.random.default_rng(7)


def synth_crops(n):
    data = []
    for _ in range(n):
        h, w = int(rng.integers(40, 57)), int(rng.integers(48, 73))
        img = rng.uniform(0.0, 0.35, size=(h, w, 3)).astype(np.float32)
        bw = int(rng.integers(int(0.3 * w), int(0.6 * w)))
        bh = int(rng.integers(int(0.4 * h), int(0.75 * h)))
        x1 = int(rng.integers(0, w - bw))
        y1 = int(rng.integers(0, h - bh))
        img[y1:y1 + bh, x1:x1 + bw, 0] = 0.95
        img[y1:y1 + bh, x1:x1 + bw, 1] *= 0.5
        data.append({"image": img, "bboxes": [[x1, y1, x1 + bw, y1 + bh]]})
    return data


def load_data(raw, size=SIZE):
    for annotation in raw:
        image, bboxes = annotation["image"], annotation["bboxes"]
        h, w, _ = image.shape
        rows = (np.arange(size) * h / size).astype(np.int64)
        cols = (np.arange(size) * w / size).astype(np.int64)
        resized_image = mx.array(image[rows][:, cols])

        x_scale = size / w
        y_scale = size / h
        resized_bboxes = [
            [bbox[0] * x_scale, bbox[1] * y_scale, bbox[2] * x_scale, bbox[3] * y_scale]
            for bbox in bboxes
        ]
        annotation["resized_image"] = resized_image
        annotation["resized_bboxes"] = resized_bboxes
    return raw


def linterpolate(min_scale, max_scale, m, steps):
    delta = (max_scale - min_scale) / (m - 1)
    return [min_scale + delta * (k - 1) for k in range(1, steps + 1)]


def generate_anchors(ratios, feature_map_sizes):
    scales = linterpolate(0.2, 0.9, len(feature_map_sizes), len(feature_map_sizes) + 1)
    priors_all = []
    for fi, K in enumerate(feature_map_sizes):
        scale = scales[fi]
        whs = [(scale * math.sqrt(r), scale / math.sqrt(r)) for r in ratios]
        s2 = math.sqrt(scale * scales[fi + 1])
        whs.append((s2, s2))
        for i in range(K):
            for j in range(K):
                cy, cx = (i + 0.5) / K, (j + 0.5) / K
                priors_all.extend([(cx, cy, w, h) for (w, h) in whs])
    return mx.array(priors_all)


def prepare_ssd_dataset(data, anchors, pos_iou_thresh=0.5):
    image_batch, loc_targets_batch, cls_targets_batch = [], [], []
    N_priors = anchors.shape[0]

    acx, acy, aw, ah = mx.split(anchors, 4, axis=1)
    axmin, aymin = acx - 0.5 * aw, acy - 0.5 * ah
    axmax, aymax = acx + 0.5 * aw, acy + 0.5 * ah
    aarea = aw * ah

    for item in data:
        img = item["resized_image"]
        _, H, W = img.shape
        assert img.ndim == 3

        coords = mx.array(item["bboxes"], dtype=mx.float32)
        M = coords.shape[0]
        labels = mx.ones((M,), dtype=mx.int32)

        x1, y1, x2, y2 = mx.split(coords, 4, axis=1)
        gxmin, gymin, gxmax, gymax = x1 / W, y1 / H, x2 / W, y2 / H
        gcx, gcy = (gxmin + gxmax) * 0.5, (gymin + gymax) * 0.5
        gw, gh = gxmax - gxmin, gymax - gymin
        gt_centers = mx.concatenate([gcx, gcy, gw, gh], axis=1)
        garea = gw * gh

        gx0, gy0, gx1, gy1 = gxmin.T, gymin.T, gxmax.T, gymax.T
        ix0, iy0 = mx.maximum(axmin, gx0), mx.maximum(aymin, gy0)
        ix1, iy1 = mx.minimum(axmax, gx1), mx.minimum(aymax, gy1)
        iw, ih = mx.clip(ix1 - ix0, 0, None), mx.clip(iy1 - iy0, 0, None)
        inter = iw * ih
        iou = inter / (aarea + garea.T - inter)

        best_iou = mx.max(iou, axis=1)
        best_idx = mx.argmax(iou, axis=1)
        forced = mx.argmax(iou, axis=0)
        pos_mask = best_iou >= pos_iou_thresh
        pos_mask[forced] = True

        matched_labels = labels[best_idx]
        cls_targets = mx.where(pos_mask, matched_labels, mx.zeros_like(matched_labels))

        matched_gt = gt_centers[best_idx]
        t_xy = (matched_gt[:, :2] - anchors[:, :2]) / anchors[:, 2:]
        t_wh = mx.log(matched_gt[:, 2:] / anchors[:, 2:])
        offsets = mx.concatenate([t_xy, t_wh], axis=1)
        loc_targets = mx.where(mx.expand_dims(pos_mask, 1), offsets, mx.zeros_like(offsets))

        image_batch.append(img)
        loc_targets_batch.append(loc_targets)
        cls_targets_batch.append(cls_targets)

    return mx.stack(image_batch), mx.stack(loc_targets_batch), mx.stack(cls_targets_batch)


class TinySSD(nn.Module):
    def __init__(self, num_classes, anchors_per_cell):
        super().__init__()
        self.num_classes = num_classes
        self.stem = [
            nn.Conv2d(3, 12, 3, stride=2, padding=1),
            nn.Conv2d(12, 24, 3, stride=2, padding=1),
            nn.Conv2d(24, 32, 3, stride=2, padding=1),
        ]
        self.extra = [
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
        ]
        A = anchors_per_cell
        self.loc_heads = [nn.Conv2d(32, A * 4, 3, padding=1) for _ in range(3)]
        self.conf_heads = [nn.Conv2d(32, A * num_classes, 3, padding=1) for _ in range(3)]

    def __call__(self, x):
        for conv in self.stem:
            x = nn.relu(conv(x))
        feats = [x]
        for conv in self.extra:
            x = nn.relu(conv(x))
            feats.append(x)
        locs, confs = [], []
        for f, lh, ch in zip(feats, self.loc_heads, self.conf_heads):
            locs.append(lh(f).reshape(f.shape[0], -1, 4))
            confs.append(ch(f).reshape(f.shape[0], -1, self.num_classes))
        return mx.concatenate(locs, axis=1), mx.concatenate(confs, axis=1)


def loss_fn(model, images, loc_targets, cls_targets, alpha=1.0):
    loc_preds, cls_preds = model(images)
    B, N, C = cls_preds.shape
    pos = cls_targets > 0
    neg = cls_targets == 0

    loc_all = nn.losses.huber_loss(loc_preds, loc_targets, reduction="none").sum(axis=-1)
    loc_loss = alpha * mx.sum(loc_all * pos) / mx.maximum(mx.sum(pos).astype(mx.float32), 1.0)

    cls_loss_all = nn.losses.cross_entropy(
        cls_preds.reshape(-1, C), cls_targets.reshape(-1), reduction="none"
    ).reshape(B, N)
    scores = mx.stop_gradient(cls_loss_all * neg)
    rank = mx.argsort(mx.argsort(-scores, axis=1), axis=1)
    k = mx.minimum(3 * mx.sum(pos, axis=1, keepdims=True), mx.sum(neg, axis=1, keepdims=True))
    sel = pos | ((rank < k) & neg)
    cls_loss = mx.sum(cls_loss_all * sel) / mx.maximum(mx.sum(sel).astype(mx.float32), 1.0)
    return cls_loss + loc_loss, (cls_loss, loc_loss)


def box_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def evaluate(model, split, anchors):
    images = mx.stack([d["resized_image"] for d in split])
    loc_preds, cls_preds = model(images)
    probs = mx.softmax(cls_preds, axis=-1)[..., 1]
    best = mx.argmax(probs, axis=1)
    a = anchors[best]
    lp = mx.take_along_axis(loc_preds, best[:, None, None], axis=1)[:, 0]
    cx = a[:, 0] + lp[:, 0] * a[:, 2]
    cy = a[:, 1] + lp[:, 1] * a[:, 3]
    w = a[:, 2] * mx.exp(mx.clip(lp[:, 2], -6, 6))
    h = a[:, 3] * mx.exp(mx.clip(lp[:, 3], -6, 6))
    boxes = np.array(mx.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)) * SIZE
    conf = np.array(mx.max(probs, axis=1))
    ious = [box_iou(boxes[i], split[i]["resized_bboxes"][0]) for i in range(len(split))]
    return float(np.mean(ious)), float(np.mean(np.array(ious) >= 0.5)), float(conf.mean())


def main():
    random.seed(7)
    data = load_data(synth_crops(320))
    train, val = data[:256], data[256:]

    anchors = generate_anchors([1, 2, 1 / 2], feature_map_sizes=[4, 2, 1])
    images, loc_t, cls_t = prepare_ssd_dataset(train, anchors)
    mx.eval(images, loc_t, cls_t)
    print(f"priors={anchors.shape[0]} train={images.shape[0]} val={len(val)} "
          f"positives/img={float(mx.mean(mx.sum(cls_t > 0, axis=1))):.2f}")

    model = TinySSD(num_classes=2, anchors_per_cell=4)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=2e-3)
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    batch_size = 32
    total_epochs = 20
    t0 = time.time()
    for epoch in range(total_epochs):
        perm = mx.array(np.random.default_rng(epoch).permutation(images.shape[0]))
        culm = culm_cls = culm_loc = 0.0
        n = 0
        for s in range(0, images.shape[0], batch_size):
            idx = perm[s:s + batch_size]
            (loss, (cls_loss, loc_loss)), grads = loss_and_grad_fn(model, images[idx], loc_t[idx], cls_t[idx])
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            b = idx.shape[0]
            culm += loss.item() * b
            culm_cls += cls_loss.item() * b
            culm_loc += loc_loss.item() * b
            n += b
        if epoch % 4 == 0 or epoch == total_epochs - 1:
            miou, hit, conf = evaluate(model, val, anchors)
            print(f"epoch {epoch:2d} loss {culm / n:.4f} cls {culm_cls / n:.4f} loc {culm_loc / n:.4f} "
                  f"| val mIoU {miou:.3f} hit@0.5 {hit:.3f} conf {conf:.3f}")

    miou, hit, conf = evaluate(model, val, anchors)
    print(f"final val mIoU {miou:.3f} hit@0.5 {hit:.3f} mean top conf {conf:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
