import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
S = 16


def make_tiles(n):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    imgs = np.zeros((n, S, S, 3), np.float32)
    masks = np.zeros((n, S, S, 1), np.float32)
    for i in range(n):
        base = rng.normal(0.35, 0.05, 3).astype(np.float32)
        img = base + 0.08 * rng.standard_normal((S, S, 3)).astype(np.float32)
        m = np.zeros((S, S), np.float32)
        for _ in range(rng.integers(0, 3)):
            cy, cx = rng.uniform(3, S - 3, 2)
            ry, rx = rng.uniform(2, 4, 2)
            m = np.maximum(m, (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1).astype(np.float32))
        img += m[..., None] * np.array([0.35, 0.3, 0.25], np.float32)
        imgs[i] = img
        masks[i, ..., 0] = m
    return imgs, masks


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)

    def __call__(self, x):
        return nn.relu(self.c2(nn.relu(self.c1(x))))


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.e1 = Block(3, 8)
        self.e2 = Block(8, 16)
        self.mid = Block(16, 16)
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.d2 = Block(16 + 16, 16)
        self.d1 = Block(16 + 8, 8)
        self.head = nn.Conv2d(8, 1, 1)

    def __call__(self, x):
        a = self.e1(x)
        b = self.e2(self.pool(a))
        c = self.mid(self.pool(b))
        d = self.d2(mx.concatenate([self.up(c), b], axis=-1))
        e = self.d1(mx.concatenate([self.up(d), a], axis=-1))
        return self.head(e)


def soft_dice(logits, y, eps=1.0):
    p = mx.sigmoid(logits)
    inter = (p * y).sum(axis=(1, 2, 3))
    den = p.sum(axis=(1, 2, 3)) + y.sum(axis=(1, 2, 3))
    return (2 * inter + eps) / (den + eps)


def loss_fn(model, x, y):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    return bce + (1 - soft_dice(logits, y)).mean()


def evaluate(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    inter = (pred * y).sum()
    union = mx.maximum(pred, y).sum()
    acc = (pred == y).mean()
    return (inter / mx.maximum(union, 1)).item(), acc.item()


xtr, ytr = make_tiles(384)
xva, yva = make_tiles(128)
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
cover = yva.mean().item()

mx.random.seed(3)
model = TinyUNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

steps_per_epoch, epochs, bs = 24, 8, 16
total = steps_per_epoch * epochs
warm = 30
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 1e-4)], [warm]
)
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"reef tiles: train {xtr.shape[0]}, valid {xva.shape[0]}, {S}x{S}, params {n_params}")
print(f"bleached pixel share (valid) {100 * cover:.1f}% -> all-healthy guess: pixel acc {100 * (1 - cover):.1f}%, IoU 0.000")
iou0, acc0 = evaluate(model, xva, yva)
print(f"before training: IoU {iou0:.3f}  pixel acc {100 * acc0:.1f}%")
print("| epoch | step | lr | bce+dice (train) | IoU (valid) | pixel acc % | s |")
print("|---|---|---|---|---|---|---|")
t0 = time.time()
step = 0
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    run = 0.0
    for k in range(steps_per_epoch):
        idx = perm[k * bs:(k + 1) * bs]
        lr_now = sched(opt.step).item()
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        step += 1
        if step == 1:
            g = tree_flatten(grads)
            zero = [n for n, v in g if mx.abs(v).max().item() == 0]
            print(f"first step: lr {lr_now:.1e}, {len(g)} gradient leaves, all-zero leaves {zero}")
    iou, acc = evaluate(model, xva, yva)
    print(f"| {ep} | {step} | {sched(opt.step).item():.2e} | {run / steps_per_epoch:.4f} | {iou:.3f} | {100 * acc:.2f} | {time.time() - t0:.1f} |")
print(f"done: IoU {iou:.3f} vs all-healthy 0.000, pixel acc {100 * acc:.2f}% vs {100 * (1 - cover):.2f}%")
