"""Salt-marsh nest survey: a YOLOv1-style grid detector on synthetic drone tiles.

Two classes: ground nests (round) and decoy floats (square).  Each 24x24 tile
has a 4x4 grid; every cell predicts two boxes (x, y, sqrt w, sqrt h, conf) and
one class distribution.  The predictor with the higher IoU against the cell's
object is the one trained on it; its confidence target is that IoU.
"""
import math
import os
import shutil
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

IMG, S, B, C = 24, 4, 2, 2
CELL = IMG // S
L_COORD, L_NOOBJ = 5.0, 0.5
CLASSES = ["nest", "decoy"]


def make_tiles(n, rng):
    x = rng.normal(0.0, 0.12, size=(n, IMG, IMG)).astype(np.float32)
    yy, xx = np.mgrid[0:IMG, 0:IMG].astype(np.float32) + 0.5
    # reed stripes as clutter
    for k in range(n):
        ang = rng.uniform(0, math.pi)
        phase = rng.uniform(0, 2 * math.pi)
        x[k] += 0.15 * np.sin((np.cos(ang) * xx + np.sin(ang) * yy) * 0.9 + phase)
    boxes = []
    for k in range(n):
        m = rng.integers(1, 4)
        cells = rng.choice(S * S, size=m, replace=False)
        objs = []
        for c in cells:
            gi, gj = divmod(int(c), S)  # row, col
            cx = (gj + rng.uniform(0.15, 0.85)) * CELL
            cy = (gi + rng.uniform(0.15, 0.85)) * CELL
            w = rng.uniform(4.0, 10.0)
            h = rng.uniform(4.0, 10.0)
            cls = int(rng.integers(0, C))
            if cls == 0:
                r = ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2
                x[k][r <= 1.0] += rng.uniform(0.7, 1.1)
            else:
                inside = (np.abs(xx - cx) <= w / 2) & (np.abs(yy - cy) <= h / 2)
                edge = inside & ~((np.abs(xx - cx) <= w / 2 - 1.2) & (np.abs(yy - cy) <= h / 2 - 1.2))
                x[k][inside] += 0.35
                x[k][edge] += 0.6
            objs.append((cx, cy, w, h, cls, gi, gj))
        boxes.append(objs)
    return x[..., None], boxes


def build_targets(boxes):
    n = len(boxes)
    obj = np.zeros((n, S, S), np.float32)
    tbox = np.zeros((n, S, S, 4), np.float32)
    tcls = np.zeros((n, S, S, C), np.float32)
    for k, objs in enumerate(boxes):
        for cx, cy, w, h, cls, gi, gj in objs:
            obj[k, gi, gj] = 1.0
            tbox[k, gi, gj] = [cx / CELL - gj, cy / CELL - gi, math.sqrt(w / IMG), math.sqrt(h / IMG)]
            tcls[k, gi, gj, cls] = 1.0
    return obj, tbox, tcls


class GridDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(6 * 6 * 16, 128)
        self.fc2 = nn.Linear(128, S * S * (B * 5 + C))

    def __call__(self, x):
        x = nn.leaky_relu(self.c1(x), 0.1)
        x = nn.leaky_relu(self.c2(x), 0.1)
        x = x.reshape(x.shape[0], -1)
        x = nn.leaky_relu(self.fc1(x), 0.1)
        out = self.fc2(x).reshape(-1, S, S, B * 5 + C)
        bx = mx.sigmoid(out[..., : B * 5].reshape(-1, S, S, B, 5))
        probs = mx.softmax(out[..., B * 5 :], axis=-1)
        return bx, probs


def cell_to_abs(b):
    # b[..., 0:2] offsets in cell, b[..., 2:4] sqrt of size fraction
    gj = mx.arange(S).reshape(1, 1, S, 1)
    gi = mx.arange(S).reshape(1, S, 1, 1)
    cx = (b[..., 0] + gj) * CELL
    cy = (b[..., 1] + gi) * CELL
    w = b[..., 2] ** 2 * IMG
    h = b[..., 3] ** 2 * IMG
    return cx, cy, w, h


def iou_xywh(a, b):
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = mx.maximum(mx.minimum(ax1, bx1) - mx.maximum(ax0, bx0), 0.0)
    ih = mx.maximum(mx.minimum(ay1, by1) - mx.maximum(ay0, by0), 0.0)
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-6)


def loss_fn(model, x, obj, tbox, tcls):
    bx, probs = model(x)
    pbox, conf = bx[..., :4], bx[..., 4]
    pa = cell_to_abs(pbox)
    ta = cell_to_abs(mx.broadcast_to(tbox[:, :, :, None, :], pbox.shape))
    ious = mx.stop_gradient(iou_xywh(pa, ta))  # (N,S,S,B)
    best = mx.argmax(ious, axis=-1)
    resp = (mx.arange(B).reshape(1, 1, 1, B) == best[..., None]).astype(mx.float32) * obj[..., None]
    tb = tbox[:, :, :, None, :]
    coord = L_COORD * mx.sum(resp[..., None] * (pbox - tb) ** 2)
    conf_obj = mx.sum(resp * (conf - ious) ** 2)
    conf_noobj = L_NOOBJ * mx.sum((1.0 - resp) * conf**2)
    cls = mx.sum(obj[..., None] * (probs - tcls) ** 2)
    n = x.shape[0]
    total = (coord + conf_obj + conf_noobj + cls) / n
    return total, mx.stack([coord, conf_obj, conf_noobj, cls]) / n


def np_iou(a, b):
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(min(ax1, bx1) - max(ax0, bx0), 0.0)
    ih = max(min(ay1, by1) - max(ay0, by0), 0.0)
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def decode(model, x, thresh=0.05):
    bx, probs = model(x)
    cx, cy, w, h = cell_to_abs(bx[..., :4])
    score = bx[..., 4][..., None] * probs[:, :, :, None, :]  # (N,S,S,B,C)
    mx.eval(cx, cy, w, h, score)
    cx, cy, w, h, score = (np.array(t) for t in (cx, cy, w, h, score))
    dets = []
    for k in range(x.shape[0]):
        per = []
        for c in range(C):
            cand = []
            sc = score[k, ..., c]
            for idx in zip(*np.nonzero(sc > thresh)):
                cand.append((float(sc[idx]), (cx[k][idx], cy[k][idx], w[k][idx], h[k][idx])))
            cand.sort(key=lambda t: -t[0])
            kept = []
            for s, bb in cand:
                if all(np_iou(bb, kb) < 0.5 for _, kb in kept):
                    kept.append((s, bb))
            per += [(s, bb, c) for s, bb in kept]
        dets.append(per)
    return dets


def map50(dets, boxes):
    aps = []
    for c in range(C):
        n_gt = sum(1 for objs in boxes for o in objs if o[4] == c)
        scored = []
        for k, per in enumerate(dets):
            for s, bb, cc in per:
                if cc == c:
                    scored.append((s, k, bb))
        scored.sort(key=lambda t: -t[0])
        used = set()
        tp = []
        for s, k, bb in scored:
            best, bj = 0.0, -1
            for j, o in enumerate(boxes[k]):
                if o[4] != c or (k, j) in used:
                    continue
                v = np_iou(bb, o[:4])
                if v > best:
                    best, bj = v, j
            if best >= 0.5:
                used.add((k, bj))
                tp.append(1.0)
            else:
                tp.append(0.0)
        if not scored:
            aps.append(0.0)
            continue
        tp = np.array(tp)
        ctp = np.cumsum(tp)
        rec = ctp / max(n_gt, 1)
        prec = ctp / np.arange(1, len(tp) + 1)
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[0.0], prec, [0.0]])
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
        aps.append(float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1])))
    return 100.0 * float(np.mean(aps))


def prior_box_baseline(train_boxes, test_boxes):
    # one box per tile at the mean training centre and size, majority class, score 1
    allo = [o for objs in train_boxes for o in objs]
    mb = tuple(float(np.mean([o[i] for o in allo])) for i in range(4))
    maj = int(np.bincount([o[4] for o in allo]).argmax())
    dets = [[(1.0, mb, maj)] for _ in test_boxes]
    return map50(dets, test_boxes)


def make_optimizer(peak, warm, total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.02)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4), sched


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, btr = make_tiles(2400, rng)
    xte, bte = make_tiles(200, rng)
    otr, tbtr, tctr = build_targets(btr)
    xtr_m, otr_m, tbtr_m, tctr_m = (mx.array(a) for a in (xtr, otr, tbtr, tctr))
    xte_m = mx.array(xte)
    print(f"tiles: train {len(btr)}  test {len(bte)}  objects/tile {np.mean([len(b) for b in btr]):.2f}  grid {S}x{S}  predictors/cell {B}")
    print(f"prior-box baseline mAP50 {prior_box_baseline(btr, bte):.1f}%")

    total_steps, half, batch, warm, peak = 750, 375, 32, 80, 3e-3
    ckpt_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gridcount_ckpt")

    model = GridDetector()
    mx.eval(model.parameters())
    opt, sched = make_optimizer(peak, warm, total_steps)
    ema = tree_map(lambda p: p, model.parameters())
    ema_decay = 0.995

    vg = nn.value_and_grad(model, loss_fn)
    (l0, parts0), g0 = vg(model, xtr_m[:batch], otr_m[:batch], tbtr_m[:batch], tctr_m[:batch])
    flat = tree_flatten(g0)
    nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
    print(f"step 0 audit: loss {l0.item():.3f}  grad leaves {nz}/{len(flat)} non-zero  lr(step0) {sched(mx.array(0)).item():.6f}")

    ema_model = GridDetector()
    step = 0
    win = []
    print(f"{'step':>5} {'lr':>9} {'loss':>8} {'coord':>7} {'obj':>6} {'noobj':>6} {'cls':>6} {'mAP50':>6} {'emaAP':>6} {'secs':>5}")
    while step < total_steps:
        perm = mx.array(rng.permutation(len(btr)))
        for i in range(0, len(btr) - batch + 1, batch):
            idx = perm[i : i + batch]
            (loss, parts), grads = vg(model, xtr_m[idx], otr_m[idx], tbtr_m[idx], tctr_m[idx])
            opt.update(model, grads)
            ema = tree_map(lambda e, p: ema_decay * e + (1 - ema_decay) * p, ema, model.parameters())
            mx.eval(model.parameters(), opt.state, ema, loss, parts)
            step += 1
            win.append(np.array(parts))
            if step % 125 == 0 or step == 1:
                lr = sched(mx.array(step - 1)).item()
                m = np.mean(win, axis=0)
                win = []
                ap = map50(decode(model, xte_m), bte)
                ema_model.update(ema)
                eap = map50(decode(ema_model, xte_m), bte)
                print(f"{step:5d} {lr:9.2e} {m.sum():8.4f} {m[0]:7.4f} {m[1]:6.4f} {m[2]:6.4f} {m[3]:6.4f} {ap:5.1f}% {eap:5.1f}% {time.time() - t0:5.1f}")
            if step == half:
                os.makedirs(ckpt_dir, exist_ok=True)
                model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
                mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
                mx.save_safetensors(os.path.join(ckpt_dir, "ema.safetensors"), dict(tree_flatten(ema)))
                # rebuild everything from disk and carry on
                model = GridDetector()
                model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
                opt, sched = make_optimizer(peak, warm, total_steps)
                opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
                ema = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "ema.safetensors")).items()))
                vg = nn.value_and_grad(model, loss_fn)
                print(f"-- checkpoint written and reloaded at step {step} (optimizer step {opt.state['step'].item()}), resuming")
            if step >= total_steps:
                break
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    ema_model.update(ema)
    ap = map50(decode(model, xte_m), bte)
    eap = map50(decode(ema_model, xte_m), bte)
    print(f"done: {step} steps, test mAP50 raw {ap:.1f}%  ema {eap:.1f}%  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
