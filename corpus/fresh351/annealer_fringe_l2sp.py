"""Glassblowing studio: annealing-stress grade of a blown vessel from a 12x12
polariscope fringe crop. A small BatchNorm CNN is trained on studio A's
polariscope, then transferred to studio B (different lamp gain, offset and
blur) with only 480 labelled crops:

  * backbone BatchNorm layers kept in eval mode (running stats from studio A)
  * backbone convs tuned with a 10x smaller Adam lr than the head (MultiOptimizer)
  * L2-SP penalty pulling backbone weights toward the studio-A solution
  * checkpoint after epoch 4, reload into a fresh model, continue to epoch 8
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
GRADES = ["relaxed", "light", "moderate", "severe"]


def fringe_crops(n, gain, offset, blur):
    """Concentric fringes whose spacing encodes stress grade."""
    y = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:12, 0:12].astype(np.float32)
    cx = 5.5 + rng.uniform(-2, 2, n)[:, None, None]
    cy = 5.5 + rng.uniform(-2, 2, n)[:, None, None]
    r = np.sqrt((xx[None] - cx) ** 2 + (yy[None] - cy) ** 2)
    freq = (0.35 + 0.32 * y)[:, None, None] * rng.uniform(0.9, 1.1, n)[:, None, None]
    img = 0.5 + 0.5 * np.cos(freq * r + rng.uniform(0, 6.28, n)[:, None, None])
    if blur > 0:
        img = (1 - blur) * img + blur * 0.25 * (
            np.roll(img, 1, 1) + np.roll(img, -1, 1) + np.roll(img, 1, 2) + np.roll(img, -1, 2))
    img = gain * img + offset + rng.normal(0, 0.12, img.shape)
    return mx.array(img[..., None].astype(np.float32)), mx.array(y.astype(np.int32))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, 3, padding=1)
        self.bn1 = nn.BatchNorm(12)
        self.conv2 = nn.Conv2d(12, 24, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm(24)
        self.conv3 = nn.Conv2d(24, 32, 3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm(32)

    def __call__(self, x):
        x = nn.relu(self.bn1(self.conv1(x)))
        x = nn.relu(self.bn2(self.conv2(x)))
        x = nn.relu(self.bn3(self.conv3(x)))
        return mx.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)


class FringeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.backbone(x))


def accuracy(model, x, y):
    model.eval()
    acc = (mx.argmax(model(x), axis=1) == y).mean().item()
    model.train()
    return acc


def batches(x, y, bs):
    perm = mx.array(rng.permutation(x.shape[0]))
    for i in range(0, x.shape[0] - bs + 1, bs):
        idx = perm[i:i + bs]
        yield x[idx], y[idx]


# ---------------- studio A pretraining ----------------
xa, ya = fringe_crops(3000, gain=1.0, offset=0.0, blur=0.0)
xa_te, ya_te = fringe_crops(800, gain=1.0, offset=0.0, blur=0.0)
model = FringeNet()
opt = optim.Adam(learning_rate=2e-3)


def ce_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_a = nn.value_and_grad(model, ce_loss)
t0 = time.time()
print("== studio A pretraining (3000 crops) ==")
for ep in range(1, 5):
    tot, nb = 0.0, 0
    for xb, yb in batches(xa, ya, 64):
        loss, g = step_a(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item(); nb += 1
    print(f"A epoch {ep}  loss {tot / nb:.4f}  A-test acc {accuracy(model, xa_te, ya_te):.3f}")

# ---------------- studio B transfer ----------------
xb_tr, yb_tr = fringe_crops(480, gain=0.55, offset=0.3, blur=0.5)
xb_te, yb_te = fringe_crops(1200, gain=0.55, offset=0.3, blur=0.5)
zero_shot = accuracy(model, xb_te, yb_te)
print(f"\nbaselines on studio B test: chance 0.250, studio-A model as-is {zero_shot:.3f}")

anchor = tree_map(lambda a: mx.array(a), model.backbone.parameters())
mx.eval(anchor)
model.head = nn.Linear(64, 4)  # new head for the new studio
ALPHA = 0.05


def l2sp(m):
    diffs = tree_flatten(tree_map(lambda w, w0: ((w - w0) ** 2).sum(),
                                  m.backbone.parameters(), anchor))
    return sum(v for _, v in diffs)


def transfer_loss(m, x, y):
    ce = nn.losses.cross_entropy(m(x), y, reduction="mean")
    pen = 0.5 * ALPHA * l2sp(m)
    return ce + pen, (ce, pen)


def freeze_bn_stats(m):
    m.train()
    for bn in (m.backbone.bn1, m.backbone.bn2, m.backbone.bn3):
        bn.eval()


def make_opt():
    return optim.MultiOptimizer(
        [optim.Adam(learning_rate=1e-4), optim.Adam(learning_rate=1e-3)],
        [lambda name, w: name.startswith("backbone")],
    )


def run_epochs(m, o, first, last):
    step = nn.value_and_grad(m, transfer_loss)
    for ep in range(first, last + 1):
        freeze_bn_stats(m)
        ce_sum, pen_sum, nb = 0.0, 0.0, 0
        for xb, yb in batches(xb_tr, yb_tr, 32):
            (_, (ce, pen)), g = step(m, xb, yb)
            o.update(m, g)
            mx.eval(m.parameters(), o.state)
            ce_sum += ce.item(); pen_sum += pen.item(); nb += 1
        rm = m.backbone.bn2.running_mean[:3].tolist()
        print(f"B epoch {ep}  ce {ce_sum / nb:.4f}  l2sp {pen_sum / nb:.5f}  "
              f"B-test acc {accuracy(m, xb_te, yb_te):.3f}  bn2.running_mean[:3] "
              f"{[round(v, 3) for v in rm]}")


print("== studio B transfer (480 crops), l2sp starts at exactly 0 ==")
opt_b = make_opt()
run_epochs(model, opt_b, 1, 4)

ckpt = os.path.join(tempfile.mkdtemp(), "fringe_ep4.safetensors")
model.save_weights(ckpt)
anchor_ckpt = ckpt.replace(".safetensors", "_anchor.safetensors")
mx.save_safetensors(anchor_ckpt, dict(tree_flatten(anchor)))
print(f"checkpoint written: {os.path.basename(ckpt)}")

del model, opt_b
model = FringeNet()
model.load_weights(ckpt)
anchor = tree_unflatten(list(mx.load(anchor_ckpt).items()))
print(f"resumed from {os.path.basename(ckpt)}: B-test acc {accuracy(model, xb_te, yb_te):.3f} "
      f"(fresh Adam moments)")
opt_b = make_opt()
run_epochs(model, opt_b, 5, 8)

final = accuracy(model, xb_te, yb_te)
print(f"\nfinal studio B test acc {final:.3f}  vs studio-A model as-is {zero_shot:.3f}  "
      f"vs chance 0.250   ({time.time() - t0:.1f}s)")
