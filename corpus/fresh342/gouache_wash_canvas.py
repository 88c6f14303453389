"""Gatys-style transfer by optimising the pixels of a small canvas.

The descriptor network is a fixed, randomly initialised three-block conv net
(random features carry enough texture statistics for Gram-matrix matching at
this size).  Its weights are frozen on purpose: the only trainable tensor is the
canvas.  The canvas starts as a copy of the content image, and the style weight
ramps up linearly from exactly 0, so the total objective starts at 0.0 and rises
during the ramp before it falls.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
H = W = 48
STEPS = 420
RAMP = 80
STYLE_W = 2.0
CONTENT_W = 20.0
TV_W = 0.01
LR = 0.03


def content_image():
    ys = mx.linspace(-1, 1, H)[:, None]
    xs = mx.linspace(-1, 1, W)[None, :]
    sky = mx.stack([0.35 + 0.3 * (ys + 1) / 2, 0.55 + 0.2 * (ys + 1) / 2,
                    0.85 - 0.1 * (ys + 1) / 2], axis=-1) * mx.ones((H, W, 1))
    hill = (ys > 0.3 + 0.25 * mx.sin(3.0 * xs)).astype(mx.float32)[..., None]
    ground = mx.array([0.25, 0.5, 0.2]) * mx.ones((H, W, 3))
    sun = (((xs - 0.45) ** 2 + (ys + 0.45) ** 2) < 0.05).astype(mx.float32)[..., None]
    img = sky * (1 - hill) + ground * hill
    img = img * (1 - sun) + mx.array([0.95, 0.85, 0.3]) * sun
    return img[None]


def style_image():
    ys = mx.arange(H)[:, None].astype(mx.float32)
    xs = mx.arange(W)[None, :].astype(mx.float32)
    a = mx.sin(0.9 * xs + 0.4 * ys)
    b = mx.sin(0.3 * xs - 1.1 * ys)
    r = 0.5 + 0.45 * a
    g = 0.5 + 0.45 * a * b
    bl = 0.5 - 0.45 * b
    return mx.clip(mx.stack([r, g, bl], axis=-1), 0, 1)[None]


class Descriptor(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 48, 3, padding=1)
        self.pool = nn.AvgPool2d(2, 2)

    def __call__(self, x):
        f1 = nn.relu(self.c1(x))
        f2 = nn.relu(self.c2(self.pool(f1)))
        f3 = nn.relu(self.c3(self.pool(f2)))
        return [f1, f2, f3]


class Canvas(nn.Module):
    def __init__(self, init):
        super().__init__()
        self.pixels = mx.array(init)

    def __call__(self):
        return self.pixels


def gram(f):
    b, h, w, c = f.shape
    f = f.reshape(b, h * w, c)
    return (f.transpose(0, 2, 1) @ f) / (h * w)


def tv(x):
    return mx.mean(mx.abs(x[:, 1:] - x[:, :-1])) + mx.mean(mx.abs(x[:, :, 1:] - x[:, :, :-1]))


net = Descriptor()
net.freeze()
content = content_image()
style = style_image()
content_feats = [mx.stop_gradient(f) for f in net(content)]
style_grams = [mx.stop_gradient(gram(f)) for f in net(style)]


def parts(img):
    feats = net(img)
    c_loss = mx.mean((feats[1] - content_feats[1]) ** 2)
    s_loss = sum(mx.sum((gram(f) - g) ** 2) for f, g in zip(feats, style_grams))
    return c_loss, s_loss, tv(img)


canvas = Canvas(content)
opt = optim.Adam(learning_rate=LR)


def objective(model, sw):
    c_loss, s_loss, t_loss = parts(model())
    total = CONTENT_W * c_loss + sw * s_loss + TV_W * t_loss
    return total, (c_loss, s_loss, t_loss)


loss_and_grad = nn.value_and_grad(canvas, objective)

c0, s0, t0 = parts(content)
noise = mx.random.uniform(shape=content.shape)
_, s_noise, _ = parts(noise)
_, s_self, _ = parts(style)
print(f"canvas {H}x{W}  trainable={sum(v.size for _, v in tree_flatten(canvas.trainable_parameters()))}"
      f"  descriptor frozen params={sum(v.size for _, v in tree_flatten(net.parameters()))}")
print(f"baseline style distance: content image {s0.item():.5f} | uniform noise {s_noise.item():.5f} | style image {s_self.item():.5f}")

t_start = time.time()
history = []
for step in range(STEPS + 1):
    sw = STYLE_W * min(1.0, step / RAMP)
    (total, (c_loss, s_loss, t_loss)), grads = loss_and_grad(canvas, sw)
    opt.update(canvas, grads)
    canvas.pixels = mx.clip(canvas.pixels, 0.0, 1.0)
    mx.eval(canvas.parameters(), opt.state, total)
    history.append(s_loss.item())
    if step % 30 == 0 or step == STEPS:
        print(f"step {step:4d}  style_w {sw:6.2f}  total {total.item():.4f}  content {c_loss.item():.5f}  "
              f"style {s_loss.item():.5f}  tv {t_loss.item():.4f}")

final = canvas.pixels
c_f, s_f, t_f = parts(final)
drift = mx.mean(mx.abs(final - content)).item()
print(f"final: style distance {s_f.item():.5f} ({s0.item() / max(s_f.item(), 1e-12):.1f}x below the content image, "
      f"{s_noise.item() / max(s_f.item(), 1e-12):.1f}x below noise)")
print(f"final: content distance {c_f.item():.5f} (0 at start by construction)  mean |canvas-content| {drift:.3f}")
print(f"pixel range [{final.min().item():.3f}, {final.max().item():.3f}]  wall {time.time() - t_start:.1f}s")
assert s_f.item() < 0.2 * s0.item(), "style statistics did not move toward the reference"
print("done")
