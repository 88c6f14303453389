"""Tide-pool crab counter: centre-heatmap detector on synthetic 32x32 tiles.

Heads at stride 2: a centre heatmap (penalty-reduced focal loss, summed and
divided by the number of crabs) and a box-size map (L1 at crab centres only).
Schedule:
  stage A (epochs 1-3): linear warmup from lr 0, size head held frozen
  stage B (epochs 4-8): everything trains; checkpoint written after epoch 5,
                        then reloaded into a fresh model + optimizer
Detection quality is reported next to a constant "one box in the middle" prior.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

S = 32
R = 2  # output stride
G = S // R


def make_set(n, rng):
    yy, xx = np.mgrid[0:S, 0:S]
    gy, gx = np.mgrid[0:G, 0:G]
    imgs = np.zeros((n, S, S, 1), np.float32)
    heat = np.zeros((n, G, G, 1), np.float32)
    size = np.zeros((n, G, G, 2), np.float32)
    mask = np.zeros((n, G, G, 1), np.float32)
    boxes = []
    for i in range(n):
        k = rng.integers(1, 4)
        bl = []
        canvas = rng.normal(0.0, 0.18, (S, S)) + 0.1 * np.sin(xx / 5.0 + rng.uniform(0, 6))
        for _ in range(k):
            w, h = rng.uniform(6, 12, 2)
            cx, cy = rng.uniform(w / 2, S - w / 2), rng.uniform(h / 2, S - h / 2)
            body = ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 <= 1.0
            canvas = canvas + 0.9 * body
            c_x, c_y = int(cx // R), int(cy // R)
            g = np.exp(-((gx - c_x) ** 2 + (gy - c_y) ** 2) / (2 * 1.0 ** 2))
            heat[i, :, :, 0] = np.maximum(heat[i, :, :, 0], g)
            size[i, c_y, c_x] = (w / 8.0, h / 8.0)
            mask[i, c_y, c_x, 0] = 1.0
            bl.append((cx, cy, w, h))
        imgs[i, :, :, 0] = canvas
        boxes.append(bl)
    return mx.array(imgs), mx.array(heat), mx.array(size), mx.array(mask), boxes


class CrabNet(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, stride=2, padding=1)
        self.b1 = nn.Conv2d(c, c, 3, padding=1)
        self.b2 = nn.Conv2d(c, c, 3, padding=1)
        self.heat_head = nn.Conv2d(c, 1, 1)
        self.size_head = nn.Conv2d(c, 2, 1)
        self.heat_head.bias = mx.full((1,), -2.19)  # prior p ~= 0.1

    def __call__(self, x):
        f = nn.silu(self.stem(x))
        f = f + nn.silu(self.b1(f))
        f = f + nn.silu(self.b2(f))
        return self.heat_head(f), self.size_head(f)


def focal_heat(logits, target):
    p = mx.clip(mx.sigmoid(logits), 1e-4, 1 - 1e-4)
    pos = (target > 0.999).astype(mx.float32)
    pos_l = -((1 - p) ** 2) * mx.log(p) * pos
    neg_l = -((1 - target) ** 4) * (p ** 2) * mx.log(1 - p) * (1 - pos)
    n = mx.maximum(mx.sum(pos), 1.0)
    return (mx.sum(pos_l) + mx.sum(neg_l)) / n


def loss_fn(model, x, heat, size, mask):
    hl, sz = model(x)
    lf = focal_heat(hl, heat)
    ls = mx.sum(mx.abs(sz - size) * mask) / mx.maximum(mx.sum(mask), 1.0)
    return lf + ls, (lf, ls)


def iou(a, b):
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match(preds, gts):
    tp = 0
    used = set()
    for p in preds:
        best, bj = 0.0, -1
        for j, g in enumerate(gts):
            if j in used:
                continue
            v = iou(p, g)
            if v > best:
                best, bj = v, j
        if best >= 0.5:
            tp += 1
            used.add(bj)
    return tp


def decode(model, x, thr=0.3):
    hl, sz = model(x)
    p = mx.sigmoid(hl)
    peak = nn.MaxPool2d(3, stride=1, padding=1)(p)
    keep = (p == peak) & (p > thr)
    keep, sz = np.array(keep), np.array(sz)
    out = []
    for i in range(x.shape[0]):
        ys, xs = np.nonzero(keep[i, :, :, 0])
        out.append([((xx + 0.5) * R, (yy + 0.5) * R, sz[i, yy, xx, 0] * 8, sz[i, yy, xx, 1] * 8)
                    for yy, xx in zip(ys, xs)])
    return out


def pr(all_preds, all_gts):
    tp = sum(match(p, g) for p, g in zip(all_preds, all_gts))
    npred = sum(len(p) for p in all_preds)
    ngt = sum(len(g) for g in all_gts)
    return tp / max(npred, 1), tp / max(ngt, 1)


def save_ckpt(path, model, opt, epoch):
    mx.save_safetensors(path + "_model.safetensors", dict(tree_flatten(model.parameters())))
    state = dict(tree_flatten(opt.state))
    state["__epoch__"] = mx.array(epoch)
    mx.save_safetensors(path + "_opt.safetensors", state)


def load_ckpt(path, model, opt):
    model.load_weights(path + "_model.safetensors")
    st = mx.load(path + "_opt.safetensors")
    epoch = int(st.pop("__epoch__").item())
    opt.state = tree_unflatten(list(st.items()))
    return epoch


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    tr = make_set(480, rng)
    va = make_set(120, rng)
    vx, vboxes = va[0], va[4]

    prior = [[(S / 2, S / 2, 9.0, 9.0)] for _ in vboxes]
    bp, brc = pr(prior, vboxes)
    print(f"centre-prior baseline: precision {bp:.3f} recall {brc:.3f}")

    bs, peak_lr = 32, 2e-3
    steps_per_epoch = len(tr[4]) // bs
    warm = 3 * steps_per_epoch

    def lr_at(step):
        if step < warm:
            return peak_lr * step / warm
        return peak_lr

    model = CrabNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    model.size_head.freeze()
    ckpt = os.path.join(tempfile.mkdtemp(), "crab")

    step, t0 = 0, time.time()
    epoch = 1
    while epoch <= 8:
        if epoch == 4:
            model.size_head.unfreeze()
            opt.init(model.trainable_parameters())
            print("stage B: size head unfrozen")
        step_fn = nn.value_and_grad(model, loss_fn)
        perm = rng.permutation(len(tr[4]))
        lf_sum = ls_sum = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * bs:(b + 1) * bs])
            opt.learning_rate = lr_at(step)
            (loss, (lf, ls)), grads = step_fn(model, tr[0][idx], tr[1][idx], tr[2][idx], tr[3][idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            lf_sum += lf.item()
            ls_sum += ls.item()
            step += 1
            if step == 1:
                print(f"  step 1 lr {lr_at(0):.1e} focal {lf.item():.3f} size_l1 {ls.item():.3f}")
        p, r = pr(decode(model, vx), vboxes)
        print(f"epoch {epoch}  lr {opt.learning_rate.item():.1e}  focal {lf_sum / steps_per_epoch:.3f}  "
              f"size_l1 {ls_sum / steps_per_epoch:.3f}  val P {p:.3f} R {r:.3f}  ({time.time() - t0:.1f}s)")
        if epoch == 5:
            save_ckpt(ckpt, model, opt, epoch)
            model = CrabNet()
            opt = optim.Adam(learning_rate=peak_lr)
            epoch = load_ckpt(ckpt, model, opt)
            mx.eval(model.parameters())
            p2, r2 = pr(decode(model, vx), vboxes)
            print(f"resumed from checkpoint at epoch {epoch}: val P {p2:.3f} R {r2:.3f}")
        epoch += 1
    print(f"done: val precision {p:.3f} recall {r:.3f} vs prior {bp:.3f}/{brc:.3f}")


if __name__ == "__main__":
    main()
