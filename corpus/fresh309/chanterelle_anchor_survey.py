"""Chanterelle survey: anchor-based single-shot detector for mushroom caps on
synthetic 24x24 forest-floor tiles (NHWC, im2col convolutions), trained with
SGD + momentum.

Stage "cls" trains only the objectness head (box-regression weight 0.0 on
purpose: the box head stays exactly where it was), stage "joint" adds the
smooth-L1 box term. Halfway through, the run is checkpointed to a temp dir,
everything is rebuilt from the files, and training resumes.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

S = 24
STRIDE = 4
G = S // STRIDE
ANCHOR_SIZES = [3.5, 5.5, 8.5]
A = len(ANCHOR_SIZES)
VAR_XY, VAR_WH = 0.1, 0.2

rng = np.random.default_rng(309)
mx.random.seed(309)


def make_tiles(n):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    imgs = np.zeros((n, S, S, 1), np.float32)
    boxes = []
    for i in range(n):
        img = rng.normal(0.0, 0.18, (S, S)).astype(np.float32)
        # leaf litter: elongated bright strokes (distractors)
        for _ in range(rng.integers(1, 4)):
            cx, cy = rng.uniform(0, S, 2)
            ang = rng.uniform(0, np.pi)
            d = np.abs((xx - cx) * np.sin(ang) - (yy - cy) * np.cos(ang))
            along = np.abs((xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang))
            img += 0.55 * ((d < 0.8) & (along < 6)).astype(np.float32)
        bs = []
        for _ in range(rng.integers(0, 4)):
            r = rng.uniform(1.4, 4.4)
            cx, cy = rng.uniform(r, S - r, 2)
            cap = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r)) ** 2)
            img += 0.9 * cap
            bs.append([cx - r, cy - r, cx + r, cy + r])
        imgs[i, :, :, 0] = img
        boxes.append(np.array(bs, np.float32).reshape(-1, 4))
    return imgs, boxes


def make_anchors():
    out = []
    for gy in range(G):
        for gx in range(G):
            cx, cy = (gx + 0.5) * STRIDE, (gy + 0.5) * STRIDE
            for s in ANCHOR_SIZES:
                out.append([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
    return np.array(out, np.float32)


def iou_np(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def encode(gt, anc):
    aw, ah = anc[:, 2] - anc[:, 0], anc[:, 3] - anc[:, 1]
    ax, ay = anc[:, 0] + aw / 2, anc[:, 1] + ah / 2
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gx, gy = gt[:, 0] + gw / 2, gt[:, 1] + gh / 2
    return np.stack([(gx - ax) / aw / VAR_XY, (gy - ay) / ah / VAR_XY,
                     np.log(gw / aw) / VAR_WH, np.log(gh / ah) / VAR_WH], -1)


def decode(d, anc):
    aw, ah = anc[:, 2] - anc[:, 0], anc[:, 3] - anc[:, 1]
    ax, ay = anc[:, 0] + aw / 2, anc[:, 1] + ah / 2
    cx = ax + d[:, 0] * VAR_XY * aw
    cy = ay + d[:, 1] * VAR_XY * ah
    w = aw * np.exp(np.clip(d[:, 2] * VAR_WH, -4, 4))
    h = ah * np.exp(np.clip(d[:, 3] * VAR_WH, -4, 4))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def assign(boxes, anc):
    """label 1 = positive, 0 = negative, -1 = ignored; plus encoded targets."""
    n = len(boxes)
    labels = np.zeros((n, len(anc)), np.float32)
    targets = np.zeros((n, len(anc), 4), np.float32)
    for i, gt in enumerate(boxes):
        if len(gt) == 0:
            continue
        ov = iou_np(anc, gt)
        best_gt = ov.argmax(1)
        best_ov = ov.max(1)
        lab = np.zeros(len(anc), np.float32)
        lab[(best_ov >= 0.4) & (best_ov < 0.5)] = -1
        lab[best_ov >= 0.5] = 1
        forced = ov.argmax(0)  # every cap gets at least its best anchor
        lab[forced] = 1
        best_gt[forced] = np.arange(len(gt))
        labels[i] = lab
        targets[i] = encode(gt[best_gt], anc)
    return labels, targets


class PatchConv(nn.Module):
    """3x3 convolution written as im2col: nine shifted views of the padded
    NHWC map are concatenated on the channel axis and fed to one Linear."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.proj = nn.Linear(9 * cin, cout)
        self.stride = stride

    def __call__(self, x):
        h, w = x.shape[1], x.shape[2]
        p = mx.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
        cols = [p[:, dy:dy + h:self.stride, dx:dx + w:self.stride, :]
                for dy in range(3) for dx in range(3)]
        return self.proj(mx.concatenate(cols, axis=-1))


class CapDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = PatchConv(1, 8)
        self.c2 = PatchConv(8, 24, stride=2)
        self.c3 = PatchConv(24, 32, stride=2)
        self.c4 = PatchConv(32, 32)
        self.cls_head = PatchConv(32, A)
        self.box_head = PatchConv(32, 4 * A)
        # prior probability 0.02 for "cap" so early negatives do not swamp
        self.cls_head.proj.bias = mx.full((A,), math.log(0.02 / 0.98))

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        h = h + nn.relu(self.c4(h))
        b = x.shape[0]
        logits = self.cls_head(h).reshape(b, G * G * A)
        deltas = self.box_head(h).reshape(b, G * G * A, 4)
        return logits, deltas


def losses(model, x, labels, targets, box_weight):
    logits, deltas = model(x)
    per = nn.losses.binary_cross_entropy(logits, (labels > 0).astype(mx.float32),
                                         with_logits=True, reduction="none")
    pos = (labels > 0).astype(mx.float32)
    neg = (labels == 0).astype(mx.float32)
    n_pos = mx.maximum(pos.sum(), 1.0)
    # hard-negative mining: keep the 3*n_pos highest-loss negatives per tile
    neg_loss = mx.stop_gradient(per) * neg - (1.0 - neg) * 1e9
    k = mx.maximum(3 * pos.sum(axis=1, keepdims=True), 4.0)
    order = mx.argsort(-neg_loss, axis=1)
    rank = mx.argsort(order, axis=1)
    hard = (rank < k).astype(mx.float32) * neg
    cls = ((pos + hard) * per).sum() / n_pos
    sl1 = nn.losses.smooth_l1_loss(deltas, targets, beta=1.0 / 9, reduction="none").sum(-1)
    box = (sl1 * pos).sum() / n_pos
    return cls + box_weight * box, (cls, box)


def nms(boxes, scores, thr=0.45):
    order = np.argsort(-scores)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        ov = iou_np(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ov < thr]
    return keep


def average_precision(dets, gts, thr=0.5):
    """VOC all-point AP over a list of (boxes, scores) per tile."""
    records, n_gt = [], sum(len(g) for g in gts)
    for (bx, sc), gt in zip(dets, gts):
        used = np.zeros(len(gt), bool)
        for j in np.argsort(-sc):
            tp = 0
            if len(gt):
                ov = iou_np(bx[j:j + 1], gt)[0]
                m = ov.argmax()
                if ov[m] >= thr and not used[m]:
                    used[m], tp = True, 1
            records.append((sc[j], tp))
    if not records or n_gt == 0:
        return 0.0
    records.sort(key=lambda r: -r[0])
    tps = np.cumsum([r[1] for r in records])
    prec = tps / np.arange(1, len(records) + 1)
    rec = tps / n_gt
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def detect(model, imgs, anc):
    out = []
    for i in range(0, len(imgs), 100):
        logits, deltas = model(mx.array(imgs[i:i + 100]))
        probs = np.array(mx.sigmoid(logits))
        deltas = np.array(deltas)
        for p, d in zip(probs, deltas):
            sel = p > 0.05
            if not sel.any():
                out.append((np.zeros((0, 4)), np.zeros(0)))
                continue
            bx = decode(d[sel], anc[sel])
            k = nms(bx, p[sel])
            out.append((bx[k], p[sel][k]))
    return out


def blob_baseline(imgs):
    """Classical reference: local maxima of a 3x3-smoothed tile above a
    threshold, each reported as a constant 6x6 box."""
    out = []
    for im in imgs[..., 0]:
        pad = np.pad(im, 1, mode="edge")
        sm = sum(pad[dy:dy + S, dx:dx + S] for dy in range(3) for dx in range(3)) / 9
        pm = np.pad(sm, 1, mode="constant", constant_values=-9)
        nb = np.max([pm[dy:dy + S, dx:dx + S] for dy in range(3) for dx in range(3)
                     if (dy, dx) != (1, 1)], axis=0)
        ys, xs = np.where((sm > nb) & (sm > 0.35))
        sc = sm[ys, xs]
        bx = np.stack([xs - 2.5, ys - 2.5, xs + 3.5, ys + 3.5], -1).astype(np.float32)
        out.append((bx.reshape(-1, 4), sc))
    return out


def val_metrics(model, val_x, val_b, vx, vl, vt, anc):
    model.eval()
    total, (c, b) = losses(model, vx, vl, vt, 1.0)
    ap = average_precision(detect(model, val_x, anc), val_b)
    model.train()
    return c.item(), b.item(), 100 * ap


def build(ckpt_dir=None):
    model = CapDetector()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, 60), optim.step_decay(0.05, 0.3, 200)], [60])
    opt = optim.SGD(learning_rate=sched, momentum=0.9)
    if ckpt_dir is not None:
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
    mx.eval(model.parameters())
    return model, opt


def main():
    t0 = time.time()
    train_x, train_b = make_tiles(1000)
    val_x, val_b = make_tiles(200)
    anc = make_anchors()
    tl, tt = assign(train_b, anc)
    vl, vt = assign(val_b, anc)
    vx, vl, vt = mx.array(val_x), mx.array(vl), mx.array(vt)
    TX, TL, TT = mx.array(train_x), mx.array(tl), mx.array(tt)
    n_caps = sum(len(b) for b in train_b)
    print(f"# tiles train={len(train_x)} val={len(val_x)} caps(train)={n_caps} "
          f"anchors/tile={len(anc)} positives/cap={(tl > 0).sum() / n_caps:.2f} "
          f"data {time.time() - t0:.1f}s")
    print(f"# reference AP50 of the local-maximum blob detector: "
          f"{100 * average_precision(blob_baseline(val_x), val_b):.1f}%")

    model, opt = build()
    c0, b0, ap0 = val_metrics(model, val_x, val_b, vx, vl, vt, anc)
    print(f"# untrained: val cls {c0:.3f} val box {b0:.3f} AP50 {ap0:.1f}%")

    total_steps, cls_only_steps, ckpt_step, bs = 400, 120, 240, 24
    grad_fn = nn.value_and_grad(model, losses)
    box_ref = None
    hdr = f"{'step':>5} {'stage':>5} {'lr':>8} {'cls(tr)':>8} {'box(tr)':>8} {'cls(va)':>8} {'box(va)':>8} {'AP50':>6} {'secs':>5}"
    print(hdr)
    perm, cur = rng.permutation(len(train_x)), 0
    wc, wb, wn = 0.0, 0.0, 0
    step = 0
    while step < total_steps:
        if cur + bs > len(perm):
            perm, cur = rng.permutation(len(train_x)), 0
        idx = mx.array(perm[cur:cur + bs])
        cur += bs
        x = TX[idx]
        box_w = 0.0 if step < cls_only_steps else 1.0
        if step == 0:
            box_ref = [v for _, v in tree_flatten(model.box_head.parameters())]
            (_, _), g = grad_fn(model, x, TL[idx], TT[idx], box_w)
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
            print(f"# step-1 gradient leaves: {len(leaves)}, all-zero: {zero} "
                  f"(box head is weighted 0.0 in stage cls)")
        lr_now = opt.learning_rate.item() if step > 0 else 0.0
        (loss, (c, b)), g = grad_fn(model, x, TL[idx], TT[idx], box_w)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        wc, wb, wn = wc + c.item(), wb + b.item(), wn + 1
        if step == cls_only_steps:
            now = [v for _, v in tree_flatten(model.box_head.parameters())]
            drift = max(mx.abs(a - r).max().item() for a, r in zip(now, box_ref))
            print(f"# end of stage cls: box-head max drift {drift:.1f}; box term switched on")
        if step in (1, 20) or step % 40 == 0:
            vc, vb, ap = val_metrics(model, val_x, val_b, vx, vl, vt, anc)
            stage = "cls" if step <= cls_only_steps else "joint"
            print(f"{step:>5} {stage:>5} {lr_now:>8.5f} {wc / wn:>8.3f} {wb / wn:>8.3f} "
                  f"{vc:>8.3f} {vb:>8.3f} {ap:>5.1f}% {time.time() - t0:>5.1f}")
            wc, wb, wn = 0.0, 0.0, 0
        if step == ckpt_step:
            with tempfile.TemporaryDirectory() as d:
                model.save_weights(os.path.join(d, "model.safetensors"))
                mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
                before = val_metrics(model, val_x, val_b, vx, vl, vt, anc)
                del model, opt, grad_fn
                model, opt = build(d)
                grad_fn = nn.value_and_grad(model, losses)
                after = val_metrics(model, val_x, val_b, vx, vl, vt, anc)
            print(f"# checkpoint at step {ckpt_step}: rebuilt from disk, val cls "
                  f"{before[0]:.4f} -> {after[0]:.4f}, optimizer step {opt.step.item()}")
    vc, vb, ap = val_metrics(model, val_x, val_b, vx, vl, vt, anc)
    print(f"# done: {step} steps, final AP50 {ap:.1f}% (untrained {ap0:.1f}%), "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
