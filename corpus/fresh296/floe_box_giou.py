"""Sea-ice floe localisation in synthetic radar backscatter patches.

Each 20x20 patch holds one bright ice floe (an axis-aligned rectangle with
rounded corners) in speckled open water.  A small MLP regresses the floe box
as (cx, cy, w, h) in [0, 1] through a sigmoid head.  The loss is
L1 on the box plus the GIoU loss (1 - GIoU, which lies in [0, 2]).

Optimizer: AdamW with SGDR warm restarts (cycles of 150, 300 steps), so the
loss jumps up after each restart.  Validation mean IoU is printed beside a
baseline that always answers the mean training box.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S = 20
rng = np.random.default_rng(11)


def make_patches(n):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) + 0.5
    x = rng.gamma(2.0, 0.25, (n, S, S)).astype(np.float32)      # water speckle
    boxes = np.zeros((n, 4), np.float32)
    for i in range(n):
        w, h = rng.uniform(4, 12, 2)
        cx = rng.uniform(w / 2, S - w / 2)
        cy = rng.uniform(h / 2, S - h / 2)
        inside = (np.abs(xx - cx) < w / 2) & (np.abs(yy - cy) < h / 2)
        x[i] += inside * rng.gamma(6.0, 0.25, (S, S))
        boxes[i] = [cx / S, cy / S, w / S, h / S]
    x = np.log1p(x)
    x = (x - x.mean()) / x.std()
    return x.reshape(n, -1), boxes


def to_xyxy(b):
    cx, cy, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def giou(p, t):
    px0, py0, px1, py1 = to_xyxy(p)
    tx0, ty0, tx1, ty1 = to_xyxy(t)
    iw = mx.maximum(mx.minimum(px1, tx1) - mx.maximum(px0, tx0), 0)
    ih = mx.maximum(mx.minimum(py1, ty1) - mx.maximum(py0, ty0), 0)
    inter = iw * ih
    union = (px1 - px0) * (py1 - py0) + (tx1 - tx0) * (ty1 - ty0) - inter
    iou = inter / (union + 1e-7)
    cw = mx.maximum(px1, tx1) - mx.minimum(px0, tx0)
    ch = mx.maximum(py1, ty1) - mx.minimum(py0, ty0)
    hull = cw * ch + 1e-7
    return iou - (hull - union) / hull, iou


class FloeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(S * S, 128), nn.GELU(),
                                  nn.Linear(128, 64), nn.GELU(),
                                  nn.Linear(64, 4))

    def __call__(self, x):
        return mx.sigmoid(self.body(x))


def loss_fn(model, x, t):
    p = model(x)
    g, _ = giou(p, t)
    l1 = mx.mean(mx.sum(mx.abs(p - t), axis=1))
    gl = mx.mean(1.0 - g)
    return l1 + gl, (l1, gl)


def sgdr_lr(step, peak=2e-3, floor=1e-5, first=150, mult=2):
    length, start = first, 0
    while step >= start + length:
        start += length
        length *= mult
    t = (step - start) / length
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t)), step == start


def main():
    t0 = time.time()
    mx.random.seed(3)
    xtr, btr = make_patches(6000)
    xva, bva = make_patches(1000)
    xtr, btr, xva, bva = map(mx.array, (xtr, btr, xva, bva))

    mean_box = mx.broadcast_to(mx.mean(btr, axis=0, keepdims=True), bva.shape)
    _, base_iou = giou(mean_box, bva)
    print(f"baseline mean box: valid mIoU {mx.mean(base_iou).item():.3f}")

    model = FloeNet()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    total, batch = 1050, 64          # cycles 150 + 300 + 600
    hist = []
    for step in range(total):
        lr, restart = sgdr_lr(step)
        if restart and step > 0:
            print(f"-- warm restart at step {step}, lr back to {lr:.1e}")
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, xtr.shape[0], batch))
        (loss, (l1, gl)), grads = step_fn(model, xtr[idx], btr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, l1, gl)
        hist.append((loss.item(), l1.item(), gl.item()))
        if (step + 1) % 75 == 0:
            h = np.array(hist[-75:]).mean(axis=0)
            _, iou = giou(model(xva), bva)
            print(f"step {step + 1:4d} lr {lr:.2e} loss {h[0]:.4f} (l1 {h[1]:.4f} giou-loss {h[2]:.4f}) "
                  f"valid mIoU {mx.mean(iou).item():.3f}")
    _, iou = giou(model(xva), bva)
    iou = np.array(iou)
    print(f"final valid mIoU {iou.mean():.3f} (baseline {mx.mean(base_iou).item():.3f}), "
          f"AP50-style hit rate {(iou > 0.5).mean():.3f}, hit@0.75 {(iou > 0.75).mean():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
