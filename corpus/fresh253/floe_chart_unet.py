import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
H = W = 16

def make_patches(n):
    x = np.zeros((n, H, W, 1), np.float32)
    y = np.zeros((n, H, W, 1), np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(2, H - 2, 2)
            ry, rx = rng.uniform(1.5, 4.5, 2)
            m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            y[i, m, 0] = 1
    speckle = rng.gamma(4.0, 0.25, size=x.shape).astype(np.float32)
    x = (0.35 + 0.5 * y) * speckle + rng.normal(0, 0.1, x.shape).astype(np.float32)
    return mx.array(x), mx.array(y)

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
        self.enc1 = Block(1, 6)
        self.enc2 = Block(6, 12)
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = Block(18, 8)
        self.head = nn.Conv2d(8, 1, 1)
    def __call__(self, x):
        a = self.enc1(x)
        b = self.enc2(self.pool(a))
        u = self.up(b)
        return self.head(self.dec(mx.concatenate([u, a], axis=-1)))

def loss_fn(model, x, y):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    p = mx.sigmoid(logits)
    inter = (p * y).sum(axis=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(axis=(1, 2, 3)) + y.sum(axis=(1, 2, 3)) + 1)
    return bce + dice.mean()

def iou(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    inter = (pred * y).sum()
    union = ((pred + y) > 0).astype(mx.float32).sum()
    return (inter / mx.maximum(union, 1)).item()

xtr, ytr = make_patches(320)
xva, yva = make_patches(96)
ice_frac = yva.mean().item()
thr = (xva > 0.6).astype(mx.float32)
thr_iou = ((thr * yva).sum() / ((thr + yva) > 0).astype(mx.float32).sum()).item()
print(f"val ice fraction {ice_frac:.3f}  baseline IoU: all-water 0.000, brightness threshold {thr_iou:.3f}")

BS, EPOCHS, WARM, PEAK = 16, 10, 40, 3e-3
steps_per_epoch = len(xtr) // BS
total = EPOCHS * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, total - WARM, 1e-5)], [WARM])

def build():
    mx.random.seed(0)
    m = TinyUNet()
    o = optim.Adam(learning_rate=sched)
    return m, o

model, opt = build()
ckpt_dir = tempfile.mkdtemp()

def run_epochs(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(start, stop):
        t0 = time.perf_counter()
        perm = np.random.default_rng(100 + ep).permutation(len(xtr))
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(perm[s * BS:(s + 1) * BS])
            loss, g = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            if ep == 0 and s < 3:
                print(f"  warmup step {s}: lr {opt.learning_rate.item():.2e} loss {loss.item():.4f}")
            tot += loss.item()
        print(f"epoch {ep+1:2d} train loss {tot/steps_per_epoch:.4f} val IoU {iou(model, xva, yva):.3f} "
              f"lr {opt.learning_rate.item():.2e} ({time.perf_counter()-t0:.1f}s)")

run_epochs(model, opt, 0, 5)
model.save_weights(os.path.join(ckpt_dir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"saved checkpoint after epoch 5, val IoU {iou(model, xva, yva):.3f}")

model, opt = build()
print(f"fresh model before load: val IoU {iou(model, xva, yva):.3f}")
model.load_weights(os.path.join(ckpt_dir, "w.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
print(f"resumed at optimizer step {opt.step.item()}: val IoU {iou(model, xva, yva):.3f}")
run_epochs(model, opt, 5, EPOCHS)
final = iou(model, xva, yva)
print(f"final val IoU {final:.3f} vs threshold baseline {thr_iou:.3f}")
