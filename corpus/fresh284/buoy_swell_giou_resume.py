"""Harbour-buoy spotter: regress one buoy box per synthetic 20x20 swell tile.

Objective is the negative generalized IoU (-GIoU), so the training loss starts
positive and goes below zero as boxes line up. Learning rate warms up linearly
from exactly 0. Halfway through, the run checkpoints model + optimizer state to
disk, rebuilds both from the files and carries on. A mean-box predictor is
reported next to the model as the baseline.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

S = 20
rng = np.random.default_rng(11)
mx.random.seed(11)


def make_tiles(n):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    imgs = np.empty((n, S, S, 1), np.float32)
    boxes = np.empty((n, 4), np.float32)
    for i in range(n):
        phase, k = rng.uniform(0, 6.28), rng.uniform(0.3, 0.8)
        sea = 0.25 * np.sin(k * xx + 0.4 * yy + phase) + rng.normal(0, 0.15, (S, S))
        w, h = rng.uniform(3, 9), rng.uniform(3, 9)
        x0, y0 = rng.uniform(0, S - w), rng.uniform(0, S - h)
        inside = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        sea[inside] += 1.2
        imgs[i, :, :, 0] = sea
        boxes[i] = [x0 / S, y0 / S, (x0 + w) / S, (y0 + h) / S]
    return mx.array(imgs), mx.array(boxes)


def giou(p, t):
    ix0, iy0 = mx.maximum(p[:, 0], t[:, 0]), mx.maximum(p[:, 1], t[:, 1])
    ix1, iy1 = mx.minimum(p[:, 2], t[:, 2]), mx.minimum(p[:, 3], t[:, 3])
    inter = mx.maximum(ix1 - ix0, 0) * mx.maximum(iy1 - iy0, 0)
    ap = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    at = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    union = ap + at - inter
    iou = inter / (union + 1e-7)
    cx0, cy0 = mx.minimum(p[:, 0], t[:, 0]), mx.minimum(p[:, 1], t[:, 1])
    cx1, cy1 = mx.maximum(p[:, 2], t[:, 2]), mx.maximum(p[:, 3], t[:, 3])
    hull = (cx1 - cx0) * (cy1 - cy0)
    return iou - (hull - union) / (hull + 1e-7), iou


class Spotter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(S * S, 256)
        self.fc2 = nn.Linear(256, 128)
        self.out = nn.Linear(128, 4)

    def __call__(self, x):
        x = nn.relu(self.fc1(x.reshape(x.shape[0], -1)))
        x = nn.relu(self.fc2(x))
        r = self.out(x)
        # centre in (0,1) via sigmoid, size in (0,1) via sigmoid -> always a valid box
        c = mx.sigmoid(r[:, :2])
        wh = 0.6 * mx.sigmoid(r[:, 2:])
        return mx.concatenate([c - wh / 2, c + wh / 2], axis=1)


def loss_fn(model, x, t):
    g, _ = giou(model(x), t)
    return -mx.mean(g)


def evaluate(model, x, t):
    g, iou = giou(model(x), t)
    return float(mx.mean(g)), float(mx.mean(iou)), float(mx.mean(iou >= 0.5))


def build(lr_schedule):
    model = Spotter()
    mx.eval(model.parameters())
    return model, optim.Adam(learning_rate=lr_schedule)


def main():
    xtr, ttr = make_tiles(2048)
    xva, tva = make_tiles(384)
    mean_box = mx.broadcast_to(mx.mean(ttr, axis=0), tva.shape)
    bg, biou = giou(mean_box, tva)
    print(f"baseline (mean box): val GIoU {float(mx.mean(bg)):+.3f} IoU {float(mx.mean(biou)):.3f}")

    warm, steps_total, bs = 60, 1000, 64
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps_total - warm, 1e-4)], [warm]
    )
    model, opt = build(schedule)
    step_fn = nn.value_and_grad(model, loss_fn)
    ckpt = tempfile.mkdtemp()
    t0 = time.time()
    step, running = 0, []
    resumed = False
    while step < steps_total:
        idx = mx.array(rng.integers(0, xtr.shape[0], bs))
        loss, grads = step_fn(model, xtr[idx], ttr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        step += 1
        if step in (1, 2) or step % 100 == 0:
            g, iou, hit = evaluate(model, xva, tva)
            lr = float(opt.learning_rate)
            print(f"step {step:4d} lr {lr:.2e} train -GIoU {np.mean(running):+.4f} | "
                  f"val GIoU {g:+.3f} IoU {iou:.3f} hit@0.5 {hit:.3f}")
            running = []
        if step == steps_total // 2 and not resumed:
            model.save_weights(os.path.join(ckpt, "model.safetensors"))
            mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
            model, opt = build(schedule)
            model.load_weights(os.path.join(ckpt, "model.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            g, iou, _ = evaluate(model, xva, tva)
            print(f"checkpoint at step {step}: reloaded model+optimizer (opt step {int(opt.step)}), "
                  f"val GIoU {g:+.3f} IoU {iou:.3f}")
            resumed = True

    g, iou, hit = evaluate(model, xva, tva)
    print(f"final: val GIoU {g:+.3f} IoU {iou:.3f} hit@0.5 {hit:.3f} vs baseline IoU {float(mx.mean(biou)):.3f} "
          f"({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
