"""Glacier time-lapse camera: learn dense ice-surface motion between two frames
without ground-truth flow (photometric self-supervision).

Each sample is a pair of 20x20 grey frames of a synthetic ice texture; the second
frame is the first one advected by a smooth flow (translation + gentle shear /
rotation), both with sensor noise.  A small network (strided conv stem + MLP) looks
at the stacked pair (NHWC, 2 channels) and outputs flow (u, v) on a 4x4 grid of
control points, bilinearly upsampled to every pixel.  The
loss is a Charbonnier photometric error between frame 1 and frame 2 warped back
with the predicted flow (hand-written bilinear sampling) plus a first-order
smoothness term.  Ground-truth flow is only used for the validation end-point
error, printed beside the zero-motion baseline.

Schedule: AdamW, learning rate linear warm-up from exactly 0, then cosine decay.
Halfway through, the run writes a checkpoint (weights + optimizer state), builds
a fresh model and optimizer, loads the checkpoint and carries on.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

H = W = 20
NOISE = 0.02
rng = np.random.default_rng(7)
mx.random.seed(7)


def texture(xs, ys, p):
    """Smooth random ice texture evaluated at continuous coordinates."""
    val = np.zeros_like(xs)
    for cx, cy, s, a in p["blobs"]:
        val += a * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * s * s))
    for kx, ky, ph, a in p["waves"]:
        val += a * np.sin(kx * xs + ky * ys + ph)
    return val


def make_pairs(n):
    gy, gx = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    f1 = np.zeros((n, H, W), np.float32)
    f2 = np.zeros((n, H, W), np.float32)
    flow = np.zeros((n, H, W, 2), np.float32)
    for i in range(n):
        p = {
            "blobs": [(rng.uniform(-4, W + 4), rng.uniform(-4, H + 4), rng.uniform(1.6, 3.5),
                       rng.uniform(-0.6, 0.6)) for _ in range(14)],
            "waves": [(rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9), rng.uniform(0, 6.28),
                       rng.uniform(0.05, 0.2)) for _ in range(3)],
        }
        tx, ty = rng.uniform(-1.5, 1.5, size=2)
        a = rng.uniform(-0.06, 0.06, size=(2, 2))
        xc, yc = gx - W / 2, gy - H / 2
        u = tx + a[0, 0] * xc + a[0, 1] * yc
        v = ty + a[1, 0] * xc + a[1, 1] * yc
        # frame 2 at x shows what frame 1 had at x - flow  <=>  f2(x + flow) = f1(x)
        f1[i] = texture(gx, gy, p)
        f2[i] = texture(gx - u, gy - v, p)
        flow[i, ..., 0] = u
        flow[i, ..., 1] = v
    f1 += rng.normal(0, NOISE, f1.shape).astype(np.float32)
    f2 += rng.normal(0, NOISE, f2.shape).astype(np.float32)
    return f1, f2, flow


def bilinear_sample(img, x, y):
    """img (B,H,W); x,y (B,H,W) continuous pixel coords -> samples and validity mask."""
    B = img.shape[0]
    valid = ((x >= 0) & (x <= W - 1) & (y >= 0) & (y <= H - 1)).astype(mx.float32)
    x = mx.clip(x, 0, W - 1.001)
    y = mx.clip(y, 0, H - 1.001)
    x0 = mx.stop_gradient(mx.floor(x))
    y0 = mx.stop_gradient(mx.floor(y))
    wx = x - x0
    wy = y - y0
    x0i = x0.astype(mx.int32)
    y0i = y0.astype(mx.int32)
    flat = img.reshape(B, H * W)

    def g(yi, xi):
        idx = (yi * W + xi).reshape(B, H * W)
        return mx.take_along_axis(flat, idx, axis=1).reshape(B, H, W)

    out = (g(y0i, x0i) * (1 - wx) * (1 - wy) + g(y0i, x0i + 1) * wx * (1 - wy)
           + g(y0i + 1, x0i) * (1 - wx) * wy + g(y0i + 1, x0i + 1) * wx * wy)
    return out, valid


def control_grid_matrix(g=4):
    """Constant bilinear interpolation from a g x g control grid to every pixel."""
    cy = np.linspace(0, H - 1, g)
    cx = np.linspace(0, W - 1, g)
    M = np.zeros((H * W, g * g), np.float32)
    for yy in range(H):
        for xx in range(W):
            iy = min(int(yy / (cy[1] - cy[0])), g - 2)
            ix = min(int(xx / (cx[1] - cx[0])), g - 2)
            ty = (yy - cy[iy]) / (cy[1] - cy[0])
            tx = (xx - cx[ix]) / (cx[1] - cx[0])
            for dy, wy in ((0, 1 - ty), (1, ty)):
                for dx, wx in ((0, 1 - tx), (1, tx)):
                    M[yy * W + xx, (iy + dy) * g + ix + dx] += wy * wx
    return mx.array(M)


GRID = 4
INTERP = control_grid_matrix(GRID)


class FlowNet(nn.Module):
    """Strided conv stem over the stacked pair, MLP to a 4x4 grid of flow
    control points, constant bilinear upsampling to a dense 20x20 flow."""

    def __init__(self, ch=16, hidden=128):
        super().__init__()
        self.stem = nn.Conv2d(2, ch, 5, stride=2, padding=2)
        self.fc1 = nn.Linear(ch * (H // 2) * (W // 2), hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, GRID * GRID * 2)

    def __call__(self, f1, f2):
        x = mx.stack([f1, f2], axis=-1)
        x = nn.gelu(self.stem(x)).reshape(x.shape[0], -1)
        x = nn.gelu(self.fc1(x))
        x = nn.gelu(self.fc2(x)) + x
        ctrl = self.out(x).reshape(-1, GRID * GRID, 2)
        dense = INTERP[None] @ ctrl  # (B, H*W, 2)
        return 2.0 * dense.reshape(-1, H, W, 2)


def loss_fn(model, f1, f2, smooth_w=0.05):
    flow = model(f1, f2)
    gy, gx = mx.meshgrid(mx.arange(H, dtype=mx.float32), mx.arange(W, dtype=mx.float32), indexing="ij")
    warped, valid = bilinear_sample(f2, gx[None] + flow[..., 0], gy[None] + flow[..., 1])
    diff = warped - f1
    photo = (mx.sqrt(diff * diff + 1e-4) * valid).sum() / (valid.sum() + 1.0)
    dx = flow[:, :, 1:, :] - flow[:, :, :-1, :]
    dy = flow[:, 1:, :, :] - flow[:, :-1, :, :]
    smooth = mx.abs(dx).mean() + mx.abs(dy).mean()
    return photo + smooth_w * smooth, photo


def epe(model, f1, f2, gt):
    pred = model(f1, f2)
    return mx.sqrt(((pred - gt) ** 2).sum(-1)).mean().item()


def make_optimizer(total, warm, peak):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-5)], [warm])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def main():
    t0 = time.time()
    tr1, tr2, trf = make_pairs(2400)
    va1, va2, vaf = make_pairs(200)
    tr1, tr2 = mx.array(tr1), mx.array(tr2)
    va1, va2, vaf = mx.array(va1), mx.array(va2), mx.array(vaf)
    zero_epe = mx.sqrt((vaf ** 2).sum(-1)).mean().item()
    # photometric floor: Charbonnier of the pure noise difference (two frames, sigma each)
    floor = float(np.mean(np.sqrt(2 * NOISE ** 2 * rng.chisquare(1, 100000) + 1e-4)))
    print(f"train pairs {tr1.shape[0]}  val pairs {va1.shape[0]}  frame {H}x{W}")
    print(f"zero-motion baseline val EPE {zero_epe:.3f} px   photometric noise floor ~{floor:.4f}")

    total, warm, peak, bs = 600, 50, 2e-3, 32
    half = total // 2
    model = FlowNet()
    opt = make_optimizer(total, warm, peak)
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, lambda m, a, b: loss_fn(m, a, b))
    ckpt = tempfile.mkdtemp("_flow_ckpt")

    step = 0
    while step < total:
        perm = mx.array(rng.permutation(tr1.shape[0]))
        for s in range(0, tr1.shape[0] - bs + 1, bs):
            idx = perm[s:s + bs]
            (loss, photo), grads = step_fn(model, tr1[idx], tr2[idx])
            grads, gnorm = optim.clip_grad_norm(grads, 5.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, photo)
            step += 1
            if step == 1 or step % 50 == 0:
                lr = opt.learning_rate.item()
                print(f"step {step:4d}  lr {lr:.2e}  loss {loss.item():.4f}  photo {photo.item():.4f}  "
                      f"|g| {gnorm.item():.3f}")
            if step % 100 == 0:
                v = epe(model, va1, va2, vaf)
                print(f"  val EPE {v:.3f} px  (zero-motion {zero_epe:.3f})")
            if step == half:
                model.save_weights(os.path.join(ckpt, "model.safetensors"))
                mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
                print(f"  checkpoint written at step {step}; rebuilding model and optimizer from it")
                model = FlowNet()
                model.load_weights(os.path.join(ckpt, "model.safetensors"))
                opt = make_optimizer(total, warm, peak)
                opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
                mx.eval(model.parameters(), opt.state)
                step_fn = nn.value_and_grad(model, lambda m, a, b: loss_fn(m, a, b))
                print(f"  resumed: optimizer step counter {opt.step.item()}, lr {opt.learning_rate.item():.2e}")
            if step >= total:
                break

    final = epe(model, va1, va2, vaf)
    _, vphoto = loss_fn(model, va1, va2)
    print(f"final val EPE {final:.3f} px vs zero-motion {zero_epe:.3f} px  "
          f"(ratio {final / zero_epe:.2f}); val photo {vphoto.item():.4f}, floor ~{floor:.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
