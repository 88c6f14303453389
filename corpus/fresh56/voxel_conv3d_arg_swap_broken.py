"""3-D occupancy-grid denoiser (think: cleaning up a noisy depth-fusion
volume before meshing).  Fully convolutional, output grid = input grid.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
G = 12
zz, yy, xx = np.meshgrid(np.arange(G), np.arange(G), np.arange(G), indexing="ij")


def scene():
    vol = np.zeros((G, G, G), np.float32)
    for _ in range(rng.integers(2, 5)):
        c = rng.uniform(2, G - 2, size=3)
        r = rng.uniform(1.5, 3.5)
        vol[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r] = 1.0
    if rng.random() < 0.5:                      # a box (wall / table top)
        a = rng.integers(0, G - 5, size=3)
        s = rng.integers(3, 6, size=3)
        vol[a[0]:a[0] + s[0], a[1]:a[1] + s[1], a[2]:a[2] + 2] = 1.0
    return vol


def corrupt(vol):
    flip = rng.random(vol.shape) < 0.08          # speckle from bad depth samples
    noisy = np.where(flip, 1.0 - vol, vol)
    return noisy + rng.normal(0, 0.15, vol.shape).astype(np.float32)


clean = np.stack([scene() for _ in range(700)])
noisy = np.stack([corrupt(v) for v in clean])
x_all = mx.array(noisy[..., None])
y_all = mx.array(clean[..., None])
x_tr, y_tr = x_all[:600], y_all[:600]
x_va, y_va = x_all[600:], y_all[600:]
print(f"grids {tuple(x_all.shape)}  occupancy {clean.mean():.3f}  "
      f"noisy-input voxel error {np.mean((noisy > 0.5) != (clean > 0.5)):.4f}")


class Denoiser(nn.Module):
    def __init__(self, ch=4):
        super().__init__()
        # (in, out, kernel, stride, dilation, padding)
        self.c1 = nn.Conv3d(1, ch, 3, 1, 1, 1)
        self.c2 = nn.Conv3d(ch, ch, 5, 1, 1, 2)     # wider context, same size
        self.c3 = nn.Conv3d(ch, 1, 3, 1, 1, 1)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.c3(h)


model = Denoiser()
mx.eval(model.parameters())


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y)


step_fn = nn.value_and_grad(model, loss_fn)
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)

t0 = time.time()
B = 20
for epoch in range(1, 5):
    perm = np.random.default_rng(epoch).permutation(x_tr.shape[0])
    tot = 0.0
    for i in range(0, len(perm), B):
        idx = mx.array(perm[i:i + B])
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    pred = model(x_va) > 0
    err = (pred != (y_va > 0.5)).mean().item()
    print(f"epoch {epoch}: train bce {tot / (len(perm) // B):.4f}   val voxel error {err:.4f}   "
          f"[{time.time() - t0:.1f}s]")
