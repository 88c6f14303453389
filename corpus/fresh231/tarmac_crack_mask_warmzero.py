# Tarmac crack segmentation: per-pixel crack mask on synthetic 16x16 apron
# images (thin dark cracks over speckled asphalt texture + oil stains).
# Tiny all-conv net, BCE(pos-weighted) + soft Dice, AdamW, LR warmup from 0,
# early stopping on validation IoU with restore of the best weights.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

H = W = 16
rng = np.random.default_rng(7)


def make_tiles(n):
    imgs = np.zeros((n, H, W, 1), np.float32)
    masks = np.zeros((n, H, W, 1), np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        base = 0.55 + 0.08 * rng.standard_normal((H, W))
        # oil stain: dark blob, not a crack (a distractor)
        if rng.random() < 0.5:
            cy, cx = rng.uniform(2, 14, 2)
            base -= 0.25 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 6.0)
        m = np.zeros((H, W), np.float32)
        for _ in range(rng.integers(1, 3)):
            # crack: random polyline, 1 px wide
            y, x = rng.uniform(0, H), rng.uniform(0, W)
            ang = rng.uniform(0, math.pi)
            for _ in range(24):
                ang += rng.normal(0, 0.35)
                y = y + math.sin(ang) * 0.7
                x = x + math.cos(ang) * 0.7
                iy, ix = int(y), int(x)
                if 0 <= iy < H and 0 <= ix < W:
                    m[iy, ix] = 1.0
        img = base - 0.3 * m + 0.04 * rng.standard_normal((H, W))
        imgs[i, :, :, 0] = img
        masks[i, :, :, 0] = m
    return imgs, masks


xtr, ytr = make_tiles(384)
xva, yva = make_tiles(160)
mu, sd = xtr.mean(), xtr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
pos_frac = float(ytr.mean())


class CrackNet(nn.Module):
    def __init__(self, c=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        self.c3 = nn.Conv2d(c, c, 3, padding=2, dilation=2)
        self.head = nn.Conv2d(2 * c, 1, 1)

    def __call__(self, x):
        a = nn.relu(self.c1(x))
        b = nn.relu(self.c2(a))
        c = nn.relu(self.c3(b))
        return self.head(mx.concatenate([a, c], axis=-1))


def seg_loss(model, x, y):
    logits = model(x)
    pw = (1 - pos_frac) / pos_frac
    bce = mx.mean(pw * y * nn.softplus(-logits) + (1 - y) * nn.softplus(logits)) / pw
    p = mx.sigmoid(logits)
    inter = mx.sum(p * y, axis=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (mx.sum(p, axis=(1, 2, 3)) + mx.sum(y, axis=(1, 2, 3)) + 1)
    return bce + mx.mean(dice), (bce, mx.mean(dice))


def iou(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    inter = mx.sum(pred * y)
    union = mx.sum(mx.maximum(pred, y))
    return (inter / mx.maximum(union, 1)).item()


# reference: "darkest 6% of pixels are cracks" thresholding, no learning
thr = float(np.quantile(np.array(xva), pos_frac))
base_iou = iou(lambda x: thr - x, xva, yva)

mx.random.seed(3)
model = CrackNet()
mx.eval(model.parameters())
steps_per_epoch = 384 // 32
max_epochs = 30
warm = 3 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, (max_epochs - 3) * steps_per_epoch, 1e-4)],
    [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, lambda m, x, y: seg_loss(m, x, y))

# every conv gets gradient on the first batch
(_, _), g0 = vg(model, xtr[:32], ytr[:32])
print("grad-norms at init:", {k: round(float(mx.linalg.norm(v)), 4) for k, v in tree_flatten(g0) if k.endswith("weight")})

print(f"{'ep':>3} {'lr':>9} {'bce':>7} {'dice_l':>7} {'val_iou':>8} {'ref_iou':>8} {'best':>6}")
best, best_ep, bad, patience = -1.0, 0, 0, 5
best_params = None
t0 = time.time()
for ep in range(1, max_epochs + 1):
    perm = mx.array(np.random.default_rng(ep).permutation(384))
    sb = sdl = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * 32:(i + 1) * 32]
        lr_now = opt.learning_rate.item()
        (loss, (bce, dl)), grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, bce, dl)
        sb += bce.item()
        sdl += dl.item()
        if ep == 1 and i == 0:
            print(f"  first step lr={lr_now:.6f}")
    v = iou(model, xva, yva)
    flag = ""
    if v > best:
        best, best_ep, bad = v, ep, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        flag = "*"
    else:
        bad += 1
    print(f"{ep:>3} {lr_now:>9.2e} {sb / steps_per_epoch:>7.4f} {sdl / steps_per_epoch:>7.4f} "
          f"{v:>8.3f} {base_iou:>8.3f} {flag:>6}")
    if bad >= patience:
        print(f"no val_iou gain for {patience} epochs -> stop at epoch {ep}")
        break

model.update(best_params)
mx.eval(model.parameters())
final = iou(model, xva, yva)
print(f"restored epoch {best_ep}: val_iou {final:.3f} (reference thresholding {base_iou:.3f}); "
      f"{time.time() - t0:.1f}s")
