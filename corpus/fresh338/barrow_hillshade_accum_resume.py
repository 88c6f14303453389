"""Aerial LiDAR survey: find round barrows and square enclosures on hillshade tiles.

CenterNet-style heatmap detector (stride 2) trained with accumulated micro-batches,
a reduce-on-plateau learning rate, and a checkpoint written half way and resumed
into a fresh process-like state (new model, new optimizer, loaded from disk).
Output is CSV so it can be pasted into the survey spreadsheet.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SIDE = 24
GRID = 12
CLASSES = ("barrow", "enclosure")
MICRO = 8
ACCUM = 2
UPDATES_PER_RUN = 150
EVAL_EVERY = 25


def draw_tile(rng):
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    slope = rng.uniform(-0.03, 0.03, size=2)
    img = 0.3 + slope[0] * (xx - 12) + slope[1] * (yy - 12)
    # plough lines: faint diagonal stripes that are not monuments
    if rng.random() < 0.6:
        period = rng.uniform(3.0, 5.0)
        img += 0.08 * np.sin((xx + yy * rng.uniform(0.2, 1.0)) * 2 * np.pi / period)
    boxes, labels = [], []
    n = rng.integers(1, 4)
    tries = 0
    while len(boxes) < n and tries < 50:
        tries += 1
        cls = int(rng.integers(0, 2))
        half = int(rng.integers(2, 5)) if cls == 0 else int(rng.integers(3, 6))
        cx = int(rng.integers(half + 1, SIDE - half - 1))
        cy = int(rng.integers(half + 1, SIDE - half - 1))
        if any(abs(cx - b[0]) < 7 and abs(cy - b[1]) < 7 for b in boxes):
            continue
        amp = rng.uniform(0.35, 0.6)
        if cls == 0:
            r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
            img += amp * np.clip(1.0 - r / (half + 0.5), 0.0, 1.0)
        else:
            inside = (np.abs(xx - cx) <= half) & (np.abs(yy - cy) <= half)
            core = (np.abs(xx - cx) <= half - 1) & (np.abs(yy - cy) <= half - 1)
            img += amp * (inside & ~core)
        boxes.append((cx, cy, 2 * half + 1, 2 * half + 1))
        labels.append(cls)
    img += rng.normal(0.0, 0.07, size=img.shape)
    return img.astype(np.float32), boxes, labels


def make_targets(boxes, labels):
    hm = np.zeros((GRID, GRID, 2), np.float32)
    wh = np.zeros((GRID, GRID, 2), np.float32)
    off = np.zeros((GRID, GRID, 2), np.float32)
    mask = np.zeros((GRID, GRID, 1), np.float32)
    gy, gx = np.mgrid[0:GRID, 0:GRID].astype(np.float32)
    for (cx, cy, w, h), c in zip(boxes, labels):
        fx, fy = cx / 2.0, cy / 2.0
        ix, iy = int(fx), int(fy)
        sigma = max(0.6, w / 2.0 / 3.0)
        g = np.exp(-((gx - ix) ** 2 + (gy - iy) ** 2) / (2 * sigma * sigma))
        hm[:, :, c] = np.maximum(hm[:, :, c], g)
        hm[iy, ix, c] = 1.0
        wh[iy, ix] = (w / 4.0, h / 4.0)
        off[iy, ix] = (fx - ix, fy - iy)
        mask[iy, ix, 0] = 1.0
    return hm, wh, off, mask


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    imgs, hms, whs, offs, masks, gts = [], [], [], [], [], []
    for _ in range(n):
        img, boxes, labels = draw_tile(rng)
        hm, wh, off, mask = make_targets(boxes, labels)
        imgs.append(img[..., None])
        hms.append(hm)
        whs.append(wh)
        offs.append(off)
        masks.append(mask)
        gts.append((boxes, labels))
    arr = lambda xs: mx.array(np.stack(xs))
    return dict(x=arr(imgs), hm=arr(hms), wh=arr(whs), off=arr(offs), mask=arr(masks)), gts


class CenterNetLite(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.neck = nn.Conv2d(16, 16, 3, padding=1)
        self.hm_head = nn.Conv2d(16, 2, 1)
        self.wh_head = nn.Conv2d(16, 2, 1)
        self.off_head = nn.Conv2d(16, 2, 1)
        self.hm_head.bias = mx.full((2,), -2.19)

    def __call__(self, x):
        h = nn.relu(self.stem(x))
        h = nn.relu(self.down(h))
        h = nn.relu(self.mid(h)) + h
        h = nn.relu(self.neck(h))
        return self.hm_head(h), self.wh_head(h), self.off_head(h)


def detection_losses(model, batch):
    logits, wh, off = model(batch["x"])
    gt = batch["hm"]
    pos = (gt == 1.0).astype(mx.float32)
    p = mx.clip(mx.sigmoid(logits), 1e-4, 1 - 1e-4)
    log_p = -nn.softplus(-logits)
    log_1mp = -nn.softplus(logits)
    pos_term = log_p * (1 - p) ** 2 * pos
    neg_term = log_1mp * p ** 2 * (1 - gt) ** 4 * (1 - pos)
    npos = mx.maximum(pos.sum(), 1.0)
    focal = -(pos_term.sum() + neg_term.sum()) / npos
    m = batch["mask"]
    size_l1 = (mx.abs(wh - batch["wh"]) * m).sum() / npos
    off_l1 = (mx.abs(off - batch["off"]) * m).sum() / npos
    return focal, size_l1, off_l1


def total_loss(model, batch):
    focal, size_l1, off_l1 = detection_losses(model, batch)
    return focal + 0.1 * size_l1 + off_l1, (focal, size_l1, off_l1)


def decode(model, x, k=10):
    logits, wh, off = model(x)
    heat = mx.sigmoid(logits)
    peaks = nn.MaxPool2d(3, stride=1, padding=1)(heat)
    heat = heat * (heat == peaks)
    heat, wh, off = np.array(heat), np.array(wh), np.array(off)
    out = []
    for b in range(heat.shape[0]):
        flat = heat[b].reshape(-1)
        top = np.argsort(-flat)[:k]
        dets = []
        for t in top:
            score = float(flat[t])
            if score < 0.02:
                break
            iy, ix, c = np.unravel_index(t, heat[b].shape)
            cx = (ix + off[b, iy, ix, 0]) * 2.0
            cy = (iy + off[b, iy, ix, 1]) * 2.0
            w, h = wh[b, iy, ix] * 4.0
            dets.append((int(c), score, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
        out.append(dets)
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def average_precision(all_dets, gts, cls, thr=0.5):
    gt_boxes = []
    for boxes, labels in gts:
        gt_boxes.append([(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                         for (cx, cy, w, h), l in zip(boxes, labels) if l == cls])
    n_gt = sum(len(g) for g in gt_boxes)
    cand = [(s, i, box) for i, dets in enumerate(all_dets) for c, s, box in dets if c == cls]
    cand.sort(key=lambda t: -t[0])
    used = [np.zeros(len(g), bool) for g in gt_boxes]
    tp = np.zeros(len(cand))
    for j, (s, i, box) in enumerate(cand):
        best, arg = 0.0, -1
        for g, gb in enumerate(gt_boxes[i]):
            o = iou(box, gb)
            if o > best:
                best, arg = o, g
        if best >= thr and not used[i][arg]:
            used[i][arg] = True
            tp[j] = 1
    if n_gt == 0 or len(cand) == 0:
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(cand) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def random_box_reference(gts, seed=7):
    rng = np.random.default_rng(seed)
    dets = []
    for _ in gts:
        d = []
        for _ in range(10):
            c = int(rng.integers(0, 2))
            w = 7.0 if c == 0 else 9.0
            cx, cy = rng.uniform(4, SIDE - 4, size=2)
            d.append((c, float(rng.random()), (cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2)))
        dets.append(d)
    return np.mean([average_precision(dets, gts, c) for c in range(2)])


def evaluate(model, val, val_gts):
    focal, size_l1, off_l1 = detection_losses(model, val)
    total = focal + 0.1 * size_l1 + off_l1
    dets = decode(model, val["x"])
    aps = [average_precision(dets, val_gts, c) for c in range(2)]
    return float(total), aps


def run_phase(phase, model, opt, train, val, val_gts, state, ref_map, ckpt=None):
    loss_and_grad = nn.value_and_grad(model, total_loss)
    n = train["x"].shape[0]
    rng = np.random.default_rng(1000 + state["update"])
    window = []
    target = state["update"] + UPDATES_PER_RUN
    while state["update"] < target:
        acc = None
        for _ in range(ACCUM):
            idx = mx.array(rng.integers(0, n, size=MICRO))
            batch = {k: v[idx] for k, v in train.items()}
            (loss, parts), grads = loss_and_grad(model, batch)
            acc = grads if acc is None else tree_map(mx.add, acc, grads)
            mx.eval(acc, loss, parts)
            window.append([float(loss)] + [float(p) for p in parts])
        acc = tree_map(lambda g: g / ACCUM, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        state["update"] += 1
        if state["update"] % EVAL_EVERY == 0:
            val_total, aps = evaluate(model, val, val_gts)
            w = np.mean(window, axis=0)
            window = []
            lr = float(opt.learning_rate)
            print(f"{phase},{state['update']},{lr:.2e},{w[1]:.4f},{w[2]:.4f},{w[3]:.4f},"
                  f"{val_total:.4f},{aps[0]:.3f},{aps[1]:.3f},{np.mean(aps):.3f},{ref_map:.3f}")
            if val_total < state["best"] * 0.99:
                state["best"] = val_total
                state["bad"] = 0
            else:
                state["bad"] += 1
                if state["bad"] >= 2:
                    opt.learning_rate = lr * 0.5
                    state["bad"] = 0
                    print(f"# plateau: lr {lr:.2e} -> {lr * 0.5:.2e}")
    return state


def save_checkpoint(folder, model, opt, state):
    model.save_weights(os.path.join(folder, "detector.safetensors"))
    mx.savez(os.path.join(folder, "optimizer.npz"), **dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(state, f)


def load_checkpoint(folder):
    model = CenterNetLite()
    model.load_weights(os.path.join(folder, "detector.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.npz")).items()))
    with open(os.path.join(folder, "meta.json")) as f:
        state = json.load(f)
    mx.eval(model.parameters(), opt.state)
    return model, opt, state


def main():
    mx.random.seed(3)
    t0 = time.time()
    train, _ = make_split(1200, seed=11)
    val, val_gts = make_split(96, seed=12)
    ref_map = random_box_reference(val_gts)
    n_obj = sum(len(b) for b, _ in val_gts)
    print(f"# tiles: train 1200, val 96 ({n_obj} monuments), grid {GRID}x{GRID}, "
          f"micro-batch {MICRO} x {ACCUM} accumulated")

    model = CenterNetLite()
    opt = optim.Adam(learning_rate=2e-3)
    mx.eval(model.parameters())
    _, grads = nn.value_and_grad(model, total_loss)(model, {k: v[:MICRO] for k, v in train.items()})
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    print(f"# gradient leaves: {len(leaves)}, all-zero: {zero if zero else 'none'}")

    val_total, aps = evaluate(model, val, val_gts)
    print("phase,update,lr,focal,size_l1,off_l1,val_total,AP50_barrow,AP50_enclosure,mAP50,ref_mAP50")
    print(f"init,0,{2e-3:.2e},,,,{val_total:.4f},{aps[0]:.3f},{aps[1]:.3f},{np.mean(aps):.3f},{ref_map:.3f}")

    state = {"update": 0, "best": float("inf"), "bad": 0}
    state = run_phase("run", model, opt, train, val, val_gts, state, ref_map)

    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(folder, model, opt, state)
        before = evaluate(model, val, val_gts)[0]
        del model, opt
        model, opt, state = load_checkpoint(folder)
        after = evaluate(model, val, val_gts)[0]
        print(f"# checkpoint at update {state['update']}: val_total {before:.4f} saved, "
              f"{after:.4f} after reload, optimizer step {int(opt.state['step'])}")
    state = run_phase("resumed", model, opt, train, val, val_gts, state, ref_map)

    val_total, aps = evaluate(model, val, val_gts)
    print(f"# done: updates {state['update']}, val_total {val_total:.4f}, mAP50 {np.mean(aps):.3f} "
          f"(random-box reference {ref_map:.3f}), {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
