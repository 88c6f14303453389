"""Tide-pool quadrat survey: box every starfish and sea urchin in a 20x20 photo crop.

Set-prediction detector (DETR-like): a small conv encoder emits a set of 4 slots,
each slot = class (starfish / urchin / empty) + box. Slots are matched to the ground
truth with an exhaustive Hungarian search each step, losses are CE + L1 + GIoU.
A weight-averaged (EMA) copy is scored next to the raw weights. Reports are YAML docs.
"""
import itertools
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SIDE = 20
SLOTS = 4
NAMES = ("starfish", "urchin")
EMPTY = 2
STEPS = 900
BATCH = 32
REPORT = 100
PERMS = {n: np.array(list(itertools.permutations(range(SLOTS), n))) for n in (1, 2, 3)}


def draw_quadrat(rng):
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    img = 0.25 + 0.1 * rng.standard_normal((SIDE, SIDE)).astype(np.float32)
    img += 0.05 * np.sin(xx * rng.uniform(0.3, 0.9) + yy * rng.uniform(0.1, 0.5))
    for _ in range(rng.integers(0, 3)):  # kelp strands, not targets
        x0 = rng.uniform(0, SIDE)
        img += 0.15 * np.exp(-((xx - x0 - 0.3 * (yy - 10)) ** 2) / 0.8)
    boxes, labels = [], []
    n = int(rng.integers(0, 4))
    tries = 0
    while len(boxes) < n and tries < 40:
        tries += 1
        c = int(rng.integers(0, 2))
        r = int(rng.integers(2, 4)) if c == 1 else int(rng.integers(3, 5))
        cx, cy = rng.integers(r, SIDE - r, size=2)
        if any(abs(cx - b[0]) < r + b[2] / 2 + 1 and abs(cy - b[1]) < r + b[3] / 2 + 1 for b in boxes):
            continue
        amp = rng.uniform(0.5, 0.8)
        if c == 0:
            arm = ((np.abs(xx - cx) <= 0.6) & (np.abs(yy - cy) <= r)) | \
                  ((np.abs(yy - cy) <= 0.6) & (np.abs(xx - cx) <= r))
            img += amp * arm
        else:
            img += amp * (np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) <= r - 0.5)
        boxes.append((float(cx), float(cy), 2.0 * r + 1, 2.0 * r + 1))
        labels.append(c)
    return img.astype(np.float32), boxes, labels


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    imgs, gts = [], []
    for _ in range(n):
        img, boxes, labels = draw_quadrat(rng)
        imgs.append(img[..., None])
        norm = [((cx + 0.5) / SIDE, (cy + 0.5) / SIDE, w / SIDE, h / SIDE) for cx, cy, w, h in boxes]
        gts.append((np.array(norm, np.float32).reshape(-1, 4), np.array(labels, np.int32)))
    return mx.array(np.stack(imgs)), gts


class SlotDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(5 * 5 * 32, 128)
        self.cls = nn.Linear(128, SLOTS * 3)
        self.box = nn.Linear(128, SLOTS * 4)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.fc(h.reshape(h.shape[0], -1)))
        logits = self.cls(h).reshape(-1, SLOTS, 3)
        boxes = mx.sigmoid(self.box(h).reshape(-1, SLOTS, 4))
        return logits, boxes


def to_corners(b):
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def giou(a, b):
    ax0, ay0, ax1, ay1 = to_corners(a)
    bx0, by0, bx1, by1 = to_corners(b)
    iw = mx.maximum(mx.minimum(ax1, bx1) - mx.maximum(ax0, bx0), 0)
    ih = mx.maximum(mx.minimum(ay1, by1) - mx.maximum(ay0, by0), 0)
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    hull = (mx.maximum(ax1, bx1) - mx.minimum(ax0, bx0)) * (mx.maximum(ay1, by1) - mx.minimum(ay0, by0))
    iou_ = inter / (union + 1e-7)
    return iou_ - (hull - union) / (hull + 1e-7)


def np_giou(a, b):
    ax0, ay0, ax1, ay1 = a[..., 0] - a[..., 2] / 2, a[..., 1] - a[..., 3] / 2, a[..., 0] + a[..., 2] / 2, a[..., 1] + a[..., 3] / 2
    bx0, by0, bx1, by1 = b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2, b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2
    inter = np.maximum(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0) * np.maximum(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0)
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    hull = (np.maximum(ax1, bx1) - np.minimum(ax0, bx0)) * (np.maximum(ay1, by1) - np.minimum(ay0, by0))
    return inter / (union + 1e-7) - (hull - union) / (hull + 1e-7)


def hungarian_targets(logits, boxes, gts):
    """Exhaustive minimum-cost assignment of ground-truth objects to slots (<=3 of 4)."""
    prob = np.array(mx.softmax(logits, axis=-1))
    pbox = np.array(boxes)
    B = prob.shape[0]
    t_cls = np.full((B, SLOTS), EMPTY, np.int32)
    t_box = np.zeros((B, SLOTS, 4), np.float32)
    t_mask = np.zeros((B, SLOTS), np.float32)
    for i, (gb, gl) in enumerate(gts):
        n = len(gl)
        if n == 0:
            continue
        cost = (-prob[i][:, gl]
                + 5.0 * np.abs(pbox[i][:, None, :] - gb[None, :, :]).sum(-1)
                - 2.0 * np_giou(pbox[i][:, None, :], gb[None, :, :]))
        perms = PERMS[n]
        totals = cost[perms, np.arange(n)[None, :]].sum(-1)
        best_perm = perms[int(totals.argmin())]
        for j, s in enumerate(best_perm):
            t_cls[i, s] = gl[j]
            t_box[i, s] = gb[j]
            t_mask[i, s] = 1.0
    return mx.array(t_cls), mx.array(t_box), mx.array(t_mask)


def set_loss(model, x, t_cls, t_box, t_mask):
    logits, boxes = model(x)
    ce = nn.losses.cross_entropy(logits, t_cls, reduction="none")
    w = mx.where(t_cls == EMPTY, 0.1, 1.0)
    ce = (ce * w).sum() / w.sum()
    nobj = mx.maximum(t_mask.sum(), 1.0)
    l1 = (mx.abs(boxes - t_box).sum(-1) * t_mask).sum() / nobj
    gl = ((1.0 - giou(boxes, t_box)) * t_mask).sum() / nobj
    return ce + 5.0 * l1 + 2.0 * gl, (ce, l1, gl)


def iou_np(a, b):
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def ap50(dets, gts, c):
    n_gt = sum(int((gl == c).sum()) for _, gl in gts)
    cand = sorted([(s, i, b) for i, d in enumerate(dets) for k, s, b in d if k == c], key=lambda t: -t[0])
    used = [np.zeros(len(gl), bool) for _, gl in gts]
    tp = []
    for s, i, b in cand:
        gb, gl = gts[i]
        best, arg = 0.0, -1
        for j in range(len(gl)):
            if gl[j] == c and not used[i][j]:
                o = iou_np(b, gb[j])
                if o > best:
                    best, arg = o, j
        ok = best >= 0.5
        if ok:
            used[i][arg] = True
        tp.append(1.0 if ok else 0.0)
    if n_gt == 0 or not cand:
        return 0.0
    ctp = np.cumsum(tp)
    rec = np.concatenate([[0], ctp / n_gt, [1]])
    pre = np.concatenate([[0], ctp / np.arange(1, len(tp) + 1), [0]])
    pre = np.maximum.accumulate(pre[::-1])[::-1]
    k = np.where(rec[1:] != rec[:-1])[0]
    return float(((rec[k + 1] - rec[k]) * pre[k + 1]).sum())


def score(model, x, gts):
    logits, boxes = model(x)
    prob, pbox = np.array(mx.softmax(logits, -1)), np.array(boxes)
    dets, hits, ious = [], 0, []
    for i, (gb, gl) in enumerate(gts):
        k = prob[i, :, :2].argmax(-1)
        s = prob[i, :, :2].max(-1)
        dets.append([(int(k[q]), float(s[q]), pbox[i, q]) for q in range(SLOTS)])
        keep = prob[i].argmax(-1) != EMPTY
        hits += int(keep.sum() == len(gl))
        for j in range(len(gl)):
            ious.append(max(iou_np(pbox[i, q], gb[j]) for q in range(SLOTS)))
    m = np.mean([ap50(dets, gts, c) for c in range(2)])
    return m, 100.0 * hits / len(gts), float(np.mean(ious))


def main():
    mx.random.seed(0)
    t0 = time.time()
    x_tr, g_tr = make_split(3000, seed=21)
    x_va, g_va = make_split(300, seed=22)
    counts = np.bincount([len(gl) for _, gl in g_va], minlength=4)
    majority_pct = 100.0 * counts.max() / counts.sum()
    empty_ce = float(np.log(3.0))

    model = SlotDetector()
    ema = SlotDetector()
    mx.eval(model.parameters())
    ema.update(tree_map(lambda p: mx.array(p), model.parameters()))
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 150),
                                  optim.step_decay(1e-3, 0.3, 400)], [150])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    lg = nn.value_and_grad(model, set_loss)

    print("# tide-pool quadrats: 3000 train / 300 val crops, 4 slots per crop")
    print(f"# val object counts 0/1/2/3: {counts.tolist()}")
    rng = np.random.default_rng(5)
    window = []
    for step in range(1, STEPS + 1):
        idx = rng.integers(0, len(g_tr), size=BATCH)
        x = x_tr[mx.array(idx)]
        gts = [g_tr[i] for i in idx]
        logits, boxes = model(x)
        t_cls, t_box, t_mask = hungarian_targets(logits, boxes, gts)
        lr_now = float(sched(opt.step))
        (loss, parts), grads = lg(model, x, t_cls, t_box, t_mask)
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"# first step: lr {lr_now:.1e}, {len(flat)} gradient leaves, zero leaves: {zero or 'none'}")
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        ema.update(tree_map(lambda e, p: 0.98 * e + 0.02 * p, ema.parameters(), model.parameters()))
        mx.eval(model.parameters(), ema.parameters(), opt.state, loss, parts)
        window.append([float(loss)] + [float(p) for p in parts])
        if step % REPORT == 0:
            w = np.mean(window, axis=0)
            window = []
            raw = score(model, x_va, g_va)
            avg = score(ema, x_va, g_va)
            print("---")
            print(f"step: {step}")
            print(f"lr: {lr_now:.2e}")
            print(f"train: {{set_loss: {w[0]:.4f}, ce: {w[1]:.4f}, l1: {w[2]:.4f}, giou_loss: {w[3]:.4f}}}")
            print("val:")
            print(f"  raw: {{mAP50: {raw[0]:.3f}, count_acc_pct: {raw[1]:.1f}, best_slot_iou: {raw[2]:.3f}}}")
            print(f"  ema: {{mAP50: {avg[0]:.3f}, count_acc_pct: {avg[1]:.1f}, best_slot_iou: {avg[2]:.3f}}}")
            print(f"  reference: {{uniform_ce: {empty_ce:.4f}, majority_count_pct: {majority_pct:.1f}}}")
    print("...")
    print(f"# finished {STEPS} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
