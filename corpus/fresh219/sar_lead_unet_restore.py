# Sea-ice lead segmentation on synthetic SAR-like tiles with a tiny U-Net.
# Leads (open-water cracks) are dark stripes in speckled ice backscatter.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
H = W = 16


def make_tiles(n):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    imgs = np.empty((n, H, W, 1), np.float32)
    masks = np.zeros((n, H, W, 1), np.float32)
    for i in range(n):
        ice = 1.0 + 0.25 * np.sin(xx / rng.uniform(3, 7) + rng.uniform(0, 6))
        speckle = rng.gamma(4.0, 0.25, size=(H, W))  # multiplicative speckle, mean 1
        m = np.zeros((H, W), np.float32)
        for _ in range(rng.integers(1, 3)):
            ang = rng.uniform(0, math.pi)
            c = rng.uniform(4, 12, size=2)
            d = np.abs((xx - c[0]) * math.sin(ang) - (yy - c[1]) * math.cos(ang))
            m = np.maximum(m, (d < rng.uniform(0.7, 1.6)).astype(np.float32))
        backscatter = ice * speckle * (1.0 - 0.65 * m)
        imgs[i, :, :, 0] = np.log(backscatter + 0.05)
        masks[i, :, :, 0] = m
    mu, sd = imgs.mean(), imgs.std()
    return (imgs - mu) / sd, masks


def conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(),
    )


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = conv_block(1, 8)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.mid = conv_block(8, 16)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = conv_block(24, 8)
        self.head = nn.Conv2d(8, 1, 1)

    def __call__(self, x):
        s = self.enc(x)
        m = self.mid(self.pool(s))
        u = self.up(m)
        return self.head(self.dec(mx.concatenate([u, s], axis=-1)))


def dice_iou(logits, y):
    p = (logits > 0).astype(mx.float32)
    inter = (p * y).sum()
    dice = 2 * inter / (p.sum() + y.sum() + 1e-6)
    iou = inter / (p.sum() + y.sum() - inter + 1e-6)
    return dice.item(), iou.item()


xtr, ytr = make_tiles(320)
xva, yva = make_tiles(96)
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

# reference: darkest-pixel threshold (pixel below the 15th percentile = lead)
thr = np.percentile(np.array(xva), 15)
ref_dice, ref_iou = dice_iou(mx.array(thr) - xva, yva)

mx.random.seed(3)
model = TinyUNet()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# audit: every conv tensor receives gradient before training starts
_, g0 = loss_and_grad(model, xtr[:32], ytr[:32])
gl = [(k, mx.abs(v).sum().item()) for k, v in tree_flatten(g0)]
print(f"audit  grad tensors nonzero: {sum(v > 0 for _, v in gl)}/{len(gl)}  "
      f"min |g|_1 = {min(v for _, v in gl):.2e}")

state = [model.state, opt.state]


def step_fn(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


step = mx.compile(step_fn, inputs=state, outputs=state)

bs, patience, max_epochs = 32, 3, 40
best_dice, best_ep, best_w, bad = -1.0, -1, None, 0
print(f"{'ep':>3} | {'bce':>7} | {'val_bce':>7} | {'dice':>6} | {'iou':>6} | ref_dice {ref_dice:.3f}")
print("-" * 58)
t0 = time.time()
for ep in range(max_epochs):
    model.train()
    perm = mx.array(rng.permutation(xtr.shape[0]))
    tot = 0.0
    for b in range(0, xtr.shape[0], bs):
        idx = perm[b:b + bs]
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        tot += loss.item()
    model.eval()
    vl = model(xva)
    vbce = nn.losses.binary_cross_entropy(vl, yva, with_logits=True).item()
    d, j = dice_iou(vl, yva)
    flag = ""
    if d > best_dice + 4e-3:
        best_dice, best_ep, bad = d, ep, 0
        best_w = tree_flatten(model.parameters())
        flag = " *"
    else:
        bad += 1
    print(f"{ep:>3} | {tot / (xtr.shape[0] // bs):7.4f} | {vbce:7.4f} | {d:6.3f} | {j:6.3f} |{flag}")
    if ep >= 8 and bad >= patience:
        print(f"early stop: no dice gain > 0.004 for {patience} epochs")
        break

model.load_weights(best_w)
mx.eval(model.parameters())
d, j = dice_iou(model(xva), yva)
print(f"restored epoch {best_ep}: dice {d:.3f} (best seen {best_dice:.3f}), iou {j:.3f}; "
      f"ref threshold dice {ref_dice:.3f}; {time.time() - t0:.1f}s")
