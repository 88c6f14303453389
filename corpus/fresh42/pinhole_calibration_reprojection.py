# Pinhole camera calibration from noisy checkerboard detections.
# Unknowns: intrinsics (fx, fy, cx, cy), one radial distortion k1, and a
# rotation (axis-angle) + translation for each of 6 board poses.
# Full-batch Adamax (compiled step) on reprojection error; a report every 150 its.
import math
from functools import partial
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(11)
W, H = 640, 480
TRUE = dict(fx=520.0, fy=515.0, cx=322.0, cy=236.0, k1=-0.12)
NV = 6

# 8x6 board, 30 mm squares, centred
gx, gy = np.meshgrid(np.arange(8), np.arange(6))
board = np.stack([(gx.ravel() - 3.5) * 0.03, (gy.ravel() - 2.5) * 0.03,
                  np.zeros(48)], 1).astype(np.float32)


def rodrigues_np(r):
    th = np.linalg.norm(r)
    k = r / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * K @ K


def project_np(P, rvec, t):
    Xc = P @ rodrigues_np(rvec).T + t
    x, y = Xc[:, 0] / Xc[:, 2], Xc[:, 1] / Xc[:, 2]
    r2 = x * x + y * y
    d = 1 + TRUE["k1"] * r2
    return np.stack([TRUE["fx"] * x * d + TRUE["cx"], TRUE["fy"] * y * d + TRUE["cy"]], 1)


true_r = rs.normal(0, 0.35, (NV, 3)) + np.array([0.0, 0.0, 0.05])
true_t = np.stack([rs.uniform(-0.05, 0.05, NV), rs.uniform(-0.04, 0.04, NV),
                   rs.uniform(0.35, 0.55, NV)], 1)
obs = np.stack([project_np(board, true_r[v], true_t[v]) for v in range(NV)])
obs = obs + rs.normal(0, 0.4, obs.shape)   # 0.4 px detector noise
obs = mx.array(obs.astype(np.float32))
P = mx.array(board)


def rodrigues(r):
    th = mx.sqrt(mx.sum(r * r) + 1e-12)
    k = r / th
    z = mx.zeros(())
    K = mx.stack([mx.stack([z, -k[2], k[1]]), mx.stack([k[2], z, -k[0]]),
                  mx.stack([-k[1], k[0], z])])
    return mx.eye(3) + mx.sin(th) * K + (1 - mx.cos(th)) * (K @ K)


class Camera(nn.Module):
    def __init__(self):
        super().__init__()
        # crude initial guess: focal from the image width, centre of image
        self.log_f = mx.array([math.log(600.0), math.log(600.0)])
        self.dc = mx.array([0.0, 0.0])  # principal-point offset, in units of 10 px
        self.k1 = mx.array(0.0)
        self.rvec = mx.array(np.tile([0.01, 0.01, 0.01], (NV, 1)).astype(np.float32))
        self.tvec = mx.array(np.tile([0.0, 0.0, 0.45], (NV, 1)).astype(np.float32))

    def centre(self):
        return mx.array([W / 2, H / 2]) + 10.0 * self.dc

    def __call__(self, pts):
        f = mx.exp(self.log_f)
        out = []
        for v in range(NV):
            Xc = pts @ rodrigues(self.rvec[v]).T + self.tvec[v]
            xy = Xc[:, :2] / Xc[:, 2:3]
            r2 = mx.sum(xy * xy, axis=1, keepdims=True)
            out.append(f * xy * (1 + self.k1 * r2) + self.centre())
        return mx.stack(out)


cam = Camera()


def loss_fn(model):
    return mx.mean(mx.sum((model(P) - obs) ** 2, axis=-1))


vg = nn.value_and_grad(cam, loss_fn)
_, g0 = vg(cam)
print("first-step |grad| per leaf:")
for k, v in tree_flatten(g0):
    n = mx.sqrt(mx.sum(v * v)).item()
    print(f"  {k:<8s} {n:.3e}")
    assert n > 0, k

ITERS = 1500
opt = optim.Adamax(learning_rate=optim.cosine_decay(3e-2, ITERS, 1e-4))
state = [cam.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step():
    loss, g = vg(cam)
    opt.update(cam, g)
    return loss

print(f"{'it':>5} {'rms_px':>8} {'fx':>8} {'fy':>8} {'cx':>7} {'cy':>7} {'k1':>7}")
t0 = time.time()
for it in range(1, ITERS + 1):
    loss = step()
    mx.eval(state, loss)
    if it % 150 == 0 or it == 1:
        f = mx.exp(cam.log_f)
        print(f"{it:5d} {math.sqrt(loss.item()):8.3f} {f[0].item():8.2f} {f[1].item():8.2f} "
              f"{cam.centre()[0].item():7.2f} {cam.centre()[1].item():7.2f} {cam.k1.item():7.4f}")
f = mx.exp(cam.log_f)
print(f"done in {time.time() - t0:.1f}s; detector noise floor ~ {0.4 * math.sqrt(2):.3f} px rms")
print("truth:", " ".join(f"{k}={v}" for k, v in TRUE.items()))
