# Harbour mooring-float spotting from a mast camera.
# Each 24x24 grey frame shows 1-3 floats (bright discs/squares of random size)
# on a rippled water background. A small patch-MLP net predicts a set of
# 3 slots, each slot = (objectness logit, cx, cy, w, h). Slots are matched to
# the ground-truth floats by trying every assignment (3! = 6) and keeping the
# cheapest one per frame; the matched cost is L1 + (1 - GIoU) on boxes plus
# BCE objectness on all slots (unmatched slots learn "no float").
# Schedule: linear warmup from exactly 0, then cosine decay. The run is split
# in two sessions: the first saves weights + optimizer state, the second
# rebuilds everything from the files and continues.
import itertools
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SIZE = 24
SLOTS = 3
PERMS = list(itertools.permutations(range(SLOTS)))


def make_frames(n, rng):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    imgs = np.zeros((n, SIZE, SIZE, 1), np.float32)
    boxes = np.zeros((n, SLOTS, 4), np.float32)   # cx, cy, w, h in [0,1]
    present = np.zeros((n, SLOTS), np.float32)
    for i in range(n):
        k = rng.integers(1, SLOTS + 1)
        phase = rng.uniform(0, 2 * np.pi)
        water = 0.15 * np.sin(0.7 * xx + 0.3 * yy + phase) + rng.normal(0, 0.08, (SIZE, SIZE))
        img = water
        placed = []
        for j in range(k):
            for _ in range(20):
                w = rng.uniform(3, 8)
                h = w * rng.uniform(0.7, 1.3)
                cx = rng.uniform(w / 2 + 0.5, SIZE - w / 2 - 0.5)
                cy = rng.uniform(h / 2 + 0.5, SIZE - h / 2 - 0.5)
                if all(abs(cx - a) > (w + c) / 2 or abs(cy - b) > (h + d) / 2 for a, b, c, d in placed):
                    break
            placed.append((cx, cy, w, h))
            inside = (np.abs(xx + 0.5 - cx) <= w / 2) & (np.abs(yy + 0.5 - cy) <= h / 2)
            if rng.random() < 0.5:   # round float
                inside = ((xx + 0.5 - cx) / (w / 2)) ** 2 + ((yy + 0.5 - cy) / (h / 2)) ** 2 <= 1.0
            img = np.where(inside, 1.0 + rng.normal(0, 0.05, (SIZE, SIZE)), img)
        # order of ground truth is arbitrary on purpose (shuffle)
        order = rng.permutation(k)
        for s, j in enumerate(order):
            cx, cy, w, h = placed[j]
            boxes[i, s] = [cx / SIZE, cy / SIZE, w / SIZE, h / SIZE]
            present[i, s] = 1.0
        imgs[i, :, :, 0] = img
    return imgs, boxes, present


class SlotDetector(nn.Module):
    # patch stem: 4x4 non-overlapping patches -> shared 2-layer MLP (a stride-4
    # convolution written as matmuls) + learned patch-position table
    def __init__(self, patch=4, width=32):
        super().__init__()
        self.patch = patch
        self.grid = SIZE // patch
        self.embed = nn.Linear(patch * patch, width)
        self.mix = nn.Linear(width, width)
        self.pos = mx.zeros((self.grid * self.grid, width))
        self.fc = nn.Linear(self.grid * self.grid * width, 128)
        self.head = nn.Linear(128, SLOTS * 5)

    def __call__(self, x):
        B, P, G = x.shape[0], self.patch, self.grid
        x = x.reshape(B, G, P, G, P).transpose(0, 1, 3, 2, 4).reshape(B, G * G, P * P)
        h = nn.relu(self.embed(x)) + self.pos
        h = nn.relu(self.mix(h))
        h = nn.relu(self.fc(h.reshape(B, -1)))
        out = self.head(h).reshape(-1, SLOTS, 5)
        obj = out[..., 0]
        box = mx.sigmoid(out[..., 1:])
        return obj, box


def to_corners(b):
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def giou(a, b):
    ax1, ay1, ax2, ay2 = to_corners(a)
    bx1, by1, bx2, by2 = to_corners(b)
    iw = mx.maximum(mx.minimum(ax2, bx2) - mx.maximum(ax1, bx1), 0.0)
    ih = mx.maximum(mx.minimum(ay2, by2) - mx.maximum(ay1, by1), 0.0)
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    iou = inter / (union + 1e-7)
    cw = mx.maximum(ax2, bx2) - mx.minimum(ax1, bx1)
    ch = mx.maximum(ay2, by2) - mx.minimum(ay1, by1)
    hull = cw * ch + 1e-7
    return iou - (hull - union) / hull, iou


def matched_cost(obj, box, gt, present):
    # obj (B,S), box (B,S,4), gt (B,S,4), present (B,S); returns (B,) min over assignments
    costs = []
    for p in PERMS:
        idx = mx.array(p)
        pb = box[:, idx]                 # slot p[j] is assigned to gt j
        po = obj[:, idx]
        g, _ = giou(pb, gt)
        l1 = mx.abs(pb - gt).sum(-1)
        box_c = ((5.0 * l1 + 2.0 * (1.0 - g)) * present).sum(-1)
        obj_c = nn.losses.binary_cross_entropy(po, present, reduction="none").sum(-1)
        costs.append(box_c + obj_c)
    costs = mx.stack(costs, axis=1)      # (B, 6)
    return costs.min(axis=1)


def loss_fn(model, x, gt, present):
    obj, box = model(x)
    n_obj = mx.maximum(present.sum(), 1.0)
    return matched_cost(obj, box, gt, present).sum() / n_obj


def evaluate(model, x, gt, present):
    obj, box = model(x)
    best = None
    best_iou = None
    for p in PERMS:
        idx = mx.array(p)
        _, iou = giou(box[:, idx], gt)
        s = (iou * present).sum(-1)
        if best is None:
            best, best_iou, best_obj = s, iou, obj[:, idx]
        else:
            take = s > best
            best = mx.where(take, s, best)
            best_iou = mx.where(take[:, None], iou, best_iou)
            best_obj = mx.where(take[:, None], obj[:, idx], best_obj)
    mean_iou = (best_iou * present).sum() / present.sum()
    hit = ((best_iou > 0.5) & (best_obj > 0) & (present > 0)).sum()
    fired = (mx.sigmoid(obj) > 0.5).sum()
    recall = hit / present.sum()
    precision = hit / mx.maximum(fired, 1)
    return mean_iou.item(), recall.item(), precision.item()


def baseline_iou(gt_train, pres_train, gt, present):
    # every slot predicts the average training box; best assignment per frame
    mean_box = (gt_train * pres_train[..., None]).sum((0, 1)) / pres_train.sum()
    pb = mx.broadcast_to(mean_box, gt.shape)
    _, iou = giou(pb, gt)
    return ((iou * present).sum() / present.sum()).item()


def make_schedule(peak, warm, total):
    warmup = optim.linear_schedule(0.0, peak, warm)
    decay = optim.cosine_decay(peak, total - warm, peak * 0.02)
    return optim.join_schedules([warmup, decay], [warm])


def run_session(model, opt, data, start, stop, log_every, quiet_from, quiet_to):
    xtr, btr, ptr, xva, bva, pva = data
    lg = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(100 + start)
    n = xtr.shape[0]
    B = 64
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, B))
        loss, grads = lg(model, xtr[idx], btr[idx], ptr[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        quiet = quiet_from <= step < quiet_to
        if (step % log_every == 0 or step == stop - 1) and not quiet:
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.2e}  loss {loss.item():.4f}  gnorm {gnorm.item():.3f}")
        if step % 150 == 149:
            miou, rec, prec = evaluate(model, xva, bva, pva)
            print(f"  val after {step + 1} steps: mean matched IoU {miou:.3f}  recall@0.5 {rec:.3f}  precision {prec:.3f}")


def main():
    t0 = time.time()
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xtr, btr, ptr = make_frames(3000, rng)
    xva, bva, pva = make_frames(500, rng)
    data = tuple(mx.array(a) for a in (xtr, btr, ptr, xva, bva, pva))
    print(f"frames: train {xtr.shape[0]}  val {xva.shape[0]}  floats/frame {ptr.sum(1).mean():.2f}")
    base = baseline_iou(data[1], data[2], data[4], data[5])
    print(f"baseline (average box in every slot): mean matched IoU {base:.3f}")

    total, warm, half = 720, 60, 360
    sched = make_schedule(2e-3, warm, total)
    model = SlotDetector()
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    mx.eval(model.parameters())
    print("session 1")
    run_session(model, opt, data, 0, half, log_every=30, quiet_from=200, quiet_to=half)

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optim.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = evaluate(model, data[3], data[4], data[5])
    print(f"saved checkpoint at step {half} (val IoU {before[0]:.3f})")

    # session 2: everything rebuilt from disk
    model = SlotDetector()
    model.load_weights(wpath)
    opt = optim.AdamW(learning_rate=make_schedule(2e-3, warm, total), weight_decay=1e-4)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, data[3], data[4], data[5])
    print(f"session 2: resumed at optimizer step {opt.step.item()}  val IoU {after[0]:.3f}")
    run_session(model, opt, data, half, total, log_every=50, quiet_from=0, quiet_to=0)

    miou, rec, prec = evaluate(model, data[3], data[4], data[5])
    print(f"final: mean matched IoU {miou:.3f} (baseline {base:.3f})  recall@0.5 {rec:.3f}  precision {prec:.3f}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
