# Rigid+warp point-set registration by gradient descent on the symmetric Chamfer
# distance: rotation angle, log-scale and translation are raw mx.array
# attributes; a small residual MLP adds a non-rigid warp. The LR is halved by a
# hand-written reduce-on-plateau rule, announced with '>> lr-drop' lines.
import math, time, datetime
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)

def shape(n):                       # a 2-D "fish": cardioid body + tail
    t = rng.uniform(0, 2 * np.pi, n)
    r = 1.0 - 0.55 * np.cos(t)
    body = np.stack([r * np.cos(t), 0.6 * r * np.sin(t)], 1)
    s = rng.uniform(-1, 1, n // 4)
    tail = np.stack([-1.6 - 0.5 * np.abs(s), 0.5 * s], 1)
    return np.concatenate([body, tail]).astype(np.float32)

target = shape(280)
theta, scale, shift = 0.9, 1.3, np.array([0.7, -0.4], np.float32)
R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
src = (target @ R.T) * scale + shift
src = src + 0.08 * np.sin(2.0 * src[:, ::-1])           # mild non-rigid bend
src = src[src[:, 0] < np.quantile(src[:, 0], 0.9)]      # 10% occluded
src = src + rng.normal(0, 0.02, src.shape).astype(np.float32)
SRC, TGT = mx.array(src), mx.array(target)

class Aligner(nn.Module):
    def __init__(self):
        super().__init__()
        self.angle = mx.array([0.0])
        self.log_scale = mx.array([0.0])
        self.t = mx.zeros((2,))
        self.warp = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))

    def __call__(self, p):
        c, s = mx.cos(self.angle[0]), mx.sin(self.angle[0])
        rot = mx.stack([mx.stack([c, -s]), mx.stack([s, c])])
        q = (p - self.t) @ rot * mx.exp(-self.log_scale[0])
        return q + 0.1 * mx.tanh(self.warp(q))

def chamfer(model, a, b):
    q = model(a)
    d = mx.sum((q[:, None, :] - b[None, :, :]) ** 2, axis=-1)
    return mx.mean(mx.min(d, axis=1)) + mx.mean(mx.min(d, axis=0))

model = Aligner()
mx.eval(model.parameters())
lg = nn.value_and_grad(model, chamfer)
_, g = lg(model, SRC, TGT)
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
print(f"{datetime.datetime.now():%H:%M:%S} leaves={len(tree_flatten(g))} zero-grad leaves={zero or 'none'}")
print(f"{datetime.datetime.now():%H:%M:%S} truth: angle={theta:+.3f} rad  scale={scale:.3f}  (occlusion leaves a Chamfer floor > 0)")

lr, best, bad = 0.05, float("inf"), 0
opt = optim.Adam(learning_rate=lr)
t0 = time.time()
for step in range(1, 1201):
    loss, g = lg(model, SRC, TGT)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 50):
        print(f"{datetime.datetime.now():%H:%M:%S} step {step:5d}  chamfer {loss.item():.5f}  (warming up)")
    if step % 50 == 0:
        cur = loss.item()
        if cur < best * 0.98:
            best, bad = cur, 0
        else:
            bad += 1
            if bad >= 3 and lr > 1e-3:
                lr *= 0.5
                opt.learning_rate = lr
                bad = 0
                print(f"{datetime.datetime.now():%H:%M:%S} >> lr-drop to {lr:.4g} at step {step} (no 2% gain in 3 checks)")
        if step % 150 == 0:
            ang = ((model.angle.item() + math.pi) % (2 * math.pi)) - math.pi
            print(f"{datetime.datetime.now():%H:%M:%S} step {step:5d}  chamfer {cur:.5f}  best {best:.5f}  "
                  f"angle {ang:+.3f}  scale {math.exp(model.log_scale.item()):.3f}  lr {lr:.4g}  ({time.time() - t0:.1f}s)")
