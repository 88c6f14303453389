# Thermal inspection of PV panels: classify raw radiometric IR frames
# (14-bit camera counts, no rescaling) as healthy / hotspot cell / string fault.
# Half precision end to end to keep the drone-side model small.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
H = W = 16
CLASSES = ["healthy", "hotspot", "string"]


def make_frames(n):
    y = rng.integers(0, 3, size=n)
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.empty((n, H, W), dtype=np.float32)
    for i in range(n):
        base = rng.uniform(4500, 6500)
        tilt = rng.uniform(-900, 900) * (xx / W) + rng.uniform(-900, 900) * (yy / H)
        f = base + tilt + rng.normal(0, 40, size=(H, W))
        if y[i] == 1:  # one hot cell
            cy, cx = rng.integers(2, H - 2), rng.integers(2, W - 2)
            f += rng.uniform(1800, 2600) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.5)
        elif y[i] == 2:  # bypass-diode string: one vertical third runs warm
            k = rng.integers(0, 3)
            band = (xx >= k * W // 3) & (xx < (k + 1) * W // 3 + (1 if k == 2 else 0))
            f += band * rng.uniform(900, 1400)
        frames[i] = f
    return frames[..., None], y


class InstanceNorm2d(nn.Module):
    """Per-frame, per-channel normalisation over the spatial axes."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones((channels,))
        self.bias = mx.zeros((channels,))

    def __call__(self, x):
        n, h, w, c = x.shape
        x = mx.fast.layer_norm(
            mx.transpose(x, (0, 3, 1, 2)).reshape(n, c, h * w), None, None, self.eps
        )
        x = mx.transpose(x.reshape(n, c, h, w), (0, 2, 3, 1))
        return self.weight * x + self.bias


class HotspotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.norm = InstanceNorm2d(8)
        self.body = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Linear(16, 3)

    def __call__(self, x):
        h = nn.relu(self.norm(self.stem(x)))
        h = nn.relu(self.body(h))
        return self.head(mx.max(h, axis=(1, 2)))


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


xtr, ytr = make_frames(900)
xva, yva = make_frames(300)
xtr, xva = mx.array(xtr).astype(mx.float16), mx.array(xva).astype(mx.float16)
ytr, yva = mx.array(ytr), mx.array(yva)

mx.random.seed(7)
model = HotspotNet()
model.set_dtype(mx.float16)
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"frames {xtr.shape} counts {float(xtr.min()):.0f}..{float(xtr.max()):.0f} dtype {xtr.dtype}")
t0 = time.time()
BS = 50
for epoch in range(1, 11):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, xtr.shape[0], BS):
        idx = perm[s:s + BS]
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    pred = mx.argmax(model(xva), axis=1)
    acc = mx.mean(pred == yva).item()
    gstem = math.sqrt(sum(float(mx.sum(g.astype(mx.float32) ** 2)) for g in [grads["stem"]["weight"]]))
    print(f"epoch {epoch:02d} | train xent {tot / nb:.4f} | val acc {100 * acc:5.1f}% | stem grad {gstem:.3e}")
print(f"done in {time.time() - t0:.1f}s  final val acc {100 * acc:.1f}% (chance 33.3%)")
