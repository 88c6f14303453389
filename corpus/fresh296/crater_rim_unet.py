"""Crater-rim segmentation on synthetic lunar elevation tiles.

A tiny encoder-decoder (two conv stages down, nn.Upsample back up, one skip)
labels every pixel of a 16x16 tile as rim / not rim.  Rim pixels are a
minority (about a quarter), so the loss is a positive-weighted BCE plus a soft Dice term.

Schedule: linear warmup from exactly 0, then cosine decay.  Training runs in
two stages; at the end of stage 1 the weights and the optimizer state are
written to disk, a fresh model is built, the checkpoint is loaded and stage 2
continues from it.  Only a few lines are printed per stage.
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

SIZE = 16
rng = np.random.default_rng(7)


def make_tiles(n):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    imgs = np.zeros((n, SIZE, SIZE, 1), np.float32)
    masks = np.zeros((n, SIZE, SIZE, 1), np.float32)
    for i in range(n):
        # smooth regional slope + noise
        gx, gy = rng.normal(0, 0.02, 2)
        elev = gx * xx + gy * yy + rng.normal(0, 0.08, (SIZE, SIZE))
        m = np.zeros((SIZE, SIZE), np.float32)
        for _ in range(rng.integers(1, 4)):
            cx, cy = rng.uniform(4, SIZE - 4, 2)
            r = rng.uniform(2.0, 4.5)
            d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
            # bowl inside, raised rim at d ~ r
            elev += -0.9 * np.clip(1 - (d / r) ** 2, 0, None)
            elev += 0.7 * np.exp(-((d - r) ** 2) / 1.2)
            m = np.maximum(m, (np.abs(d - r) < 1.0).astype(np.float32))
        imgs[i, :, :, 0] = elev
        masks[i, :, :, 0] = m
    imgs = (imgs - imgs.mean(axis=(1, 2, 3), keepdims=True)) / (
        imgs.std(axis=(1, 2, 3), keepdims=True) + 1e-6)
    return imgs, masks


class RimNet(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
        self.down = nn.MaxPool2d(2, 2)
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = nn.Sequential(nn.Conv2d(3 * c, c, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(c, 1, 1))

    def __call__(self, x):
        s = self.enc1(x)
        h = self.enc2(self.down(s))
        h = mx.concatenate([self.up(h), s], axis=-1)
        return self.dec(h)


def loss_fn(model, x, y, pos_weight):
    logits = model(x)
    bce = mx.logaddexp(0.0, logits) - y * logits          # -log p / -log(1-p)
    w = 1.0 + (pos_weight - 1.0) * y
    bce = mx.mean(w * bce)
    p = mx.sigmoid(logits)
    inter = mx.sum(p * y, axis=(1, 2, 3))
    dice = 1.0 - (2 * inter + 1.0) / (mx.sum(p, axis=(1, 2, 3)) + mx.sum(y, axis=(1, 2, 3)) + 1.0)
    return bce + mx.mean(dice)


def evaluate(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    tp = mx.sum(pred * y).item()
    fp = mx.sum(pred * (1 - y)).item()
    fn = mx.sum((1 - pred) * y).item()
    acc = mx.mean((pred == y).astype(mx.float32)).item()
    iou = tp / max(tp + fp + fn, 1.0)
    return acc, iou


def lr_at(step, total, warmup, peak):
    if step < warmup:
        return peak * step / warmup            # step 0 -> exactly 0
    t = (step - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def run_stage(model, opt, xs, ys, steps, start, total, warmup, peak, pos_weight, batch):
    step_fn = nn.value_and_grad(model, loss_fn)
    running = []
    for s in range(start, start + steps):
        idx = mx.array(rng.integers(0, xs.shape[0], batch))
        opt.learning_rate = lr_at(s, total, warmup, peak)
        loss, grads = step_fn(model, xs[idx], ys[idx], pos_weight)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if (s + 1) % 50 == 0:
            print(f"step {s + 1:4d}  lr {lr_at(s, total, warmup, peak):.2e}  "
                  f"loss(avg50) {np.mean(running[-50:]):.4f}")


def main():
    t0 = time.time()
    mx.random.seed(0)
    xtr, ytr = make_tiles(640)
    xva, yva = make_tiles(128)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    frac = ytr.mean().item()
    pos_weight = 4.0
    print(f"train tiles {xtr.shape[0]}  valid tiles {xva.shape[0]}  rim pixel share {frac:.3f}")
    base_acc = 1.0 - yva.mean().item()
    print(f"baseline 'no rim anywhere': pixel acc {base_acc:.3f}  rim IoU 0.000")

    total, warmup, peak, batch = 400, 40, 1e-2, 16
    model = RimNet()
    opt = optim.Adam(learning_rate=0.0)
    mx.eval(model.parameters())
    acc, iou = evaluate(model, xva, yva)
    print(f"init        pixel acc {acc:.3f}  rim IoU {iou:.3f}")

    print("-- stage 1 --")
    run_stage(model, opt, xtr, ytr, 200, 0, total, warmup, peak, pos_weight, batch)
    acc1, iou1 = evaluate(model, xva, yva)
    print(f"stage 1 end pixel acc {acc1:.3f}  rim IoU {iou1:.3f}")

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optim.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written ({len(tree_flatten(model.parameters()))} tensors)")

    # resume into fresh objects
    model = RimNet()
    model.load_weights(wpath)
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    accr, iour = evaluate(model, xva, yva)
    print(f"resumed     pixel acc {accr:.3f}  rim IoU {iour:.3f}")

    print("-- stage 2 --")
    run_stage(model, opt, xtr, ytr, 200, 200, total, warmup, peak, pos_weight, batch)
    acc2, iou2 = evaluate(model, xva, yva)
    print(f"final       pixel acc {acc2:.3f} (baseline {base_acc:.3f})  rim IoU {iou2:.3f} (baseline 0.000)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
