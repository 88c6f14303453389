# Seagrass meadow mapping from synthetic 16x16 drone tiles: tiny encoder-decoder,
# soft-dice + BCE, Lion with warm-up from 0, checkpoint/resume half way.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
H = W = 16

def make_tiles(n):
    yy, xx = np.mgrid[0:H, 0:W]
    imgs = np.zeros((n, H, W, 2), np.float32)
    masks = np.zeros((n, H, W, 1), np.float32)
    for i in range(n):
        m = np.zeros((H, W), bool)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(2, 14, 2)
            ry, rx = rng.uniform(1.5, 4, 2)
            m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        glint = rng.uniform(0, 1.2, (H, W)) * (rng.uniform(size=(H, W)) < 0.08)
        imgs[i, ..., 0] = 0.6 * m + glint + rng.normal(0, 0.35, (H, W))
        imgs[i, ..., 1] = 0.4 * m - 0.3 * glint + rng.normal(0, 0.35, (H, W))
        flip = rng.uniform(size=(H, W)) < 0.03   # annotator noise
        masks[i, ..., 0] = np.where(flip, ~m, m)
    return mx.array(imgs), mx.array(masks)

xtr, ytr = make_tiles(480)
xva, yva = make_tiles(160)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.e1 = nn.Conv2d(2, 8, 3, padding=1)
        self.e2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.d1 = nn.Conv2d(24, 8, 3, padding=1)
        self.out = nn.Conv2d(8, 1, 1)
    def __call__(self, x):
        a = nn.gelu(self.e1(x))
        b = nn.gelu(self.e2(a))
        c = nn.gelu(self.d1(mx.concatenate([a, self.up(b)], axis=-1)))
        return self.out(c)

def loss_fn(model, x, y):
    logits = model(x)
    p = mx.sigmoid(logits)
    inter = (p * y).sum(axis=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(axis=(1, 2, 3)) + y.sum(axis=(1, 2, 3)) + 1)
    bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    return dice.mean() + bce

def iou(pred, y):
    inter = (pred * y).sum()
    union = ((pred + y) > 0).sum()
    return (inter / union).item()

def evaluate(model):
    pred = (model(xva) > 0).astype(mx.float32)
    return loss_fn(model, xva, yva).item(), iou(pred, yva)

base_bg = iou(mx.zeros_like(yva), yva)
base_thr = iou((xva[..., :1] > 0.3).astype(mx.float32), yva)

steps_per_epoch, epochs, bs = 480 // 40, 8, 40
total = steps_per_epoch * epochs
warm = 24
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, total - warm, 1e-5)], [warm])

def build():
    mx.random.seed(0)
    m = Net()
    o = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    return m, o

model, opt = build()
rows = []
t0 = time.time()
ckdir = tempfile.mkdtemp()

def run_epochs(model, opt, e_from, e_to):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(e_from, e_to):
        perm = mx.array(rng.permutation(480))
        run = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * bs:(s + 1) * bs]
            loss, g = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        vl, vi = evaluate(model)
        rows.append((ep + 1, opt.step.item(), opt.learning_rate.item(), run / steps_per_epoch, vl, vi))

print(f"tiles train=480 valid=160  meadow share={ytr.mean().item():.3f}")
print(f"baseline IoU: bare-sand {base_bg:.3f}  band-threshold {base_thr:.3f}")
run_epochs(model, opt, 0, 4)
# checkpoint, then continue in a fresh process-like state
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
model, opt = build()
model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
print(f"resumed from checkpoint at step {opt.step.item()}")
run_epochs(model, opt, 4, 8)

print("| epoch | step | lr | train loss | valid loss | valid IoU |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]:.2e} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.3f} |")
print(f"done in {time.time() - t0:.1f}s")
