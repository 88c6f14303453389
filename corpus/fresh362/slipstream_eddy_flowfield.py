"""Dense optical flow on synthetic frame pairs.

A small conv net sees (frame1, frame2) and predicts a per-pixel flow field.
Loss = end-point error against the true flow + a photometric term that warps
frame2 back onto frame1 with the predicted flow (bilinear sampling).
Schedule: linear warmup from lr 0, then cosine decay. Halfway through, the run
writes a checkpoint (weights + optimizer state), rebuilds everything from the
files and carries on, as a preempted job would.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

H = W = 12
BATCH = 8
STEPS = 300
WARMUP = 30
PEAK_LR = 3e-3
LOG_EVERY = 50
CKPT_AT = 150

rng = np.random.default_rng(7)


def make_pairs(n):
    """Analytic textures T (sum of random sinusoids); frame2(x) = T(x - u(x))."""
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    f1 = np.zeros((n, H, W), np.float32)
    f2 = np.zeros((n, H, W), np.float32)
    # smooth flow: per-sample translation plus a gentle rotation about the centre
    tx = rng.uniform(-1.5, 1.5, n).astype(np.float32)
    ty = rng.uniform(-1.5, 1.5, n).astype(np.float32)
    rot = rng.uniform(-0.06, 0.06, n).astype(np.float32)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    ux = tx[:, None, None] - rot[:, None, None] * (ys - cy)
    uy = ty[:, None, None] + rot[:, None, None] * (xs - cx)
    for _ in range(5):
        kx = rng.uniform(-0.9, 0.9, n).astype(np.float32)[:, None, None]
        ky = rng.uniform(-0.9, 0.9, n).astype(np.float32)[:, None, None]
        ph = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None]
        amp = rng.uniform(0.2, 0.5, n).astype(np.float32)[:, None, None]
        f1 += amp * np.sin(kx * xs + ky * ys + ph)
        f2 += amp * np.sin(kx * (xs - ux) + ky * (ys - uy) + ph)
    frames = np.stack([f1, f2], axis=-1)                 # N,H,W,2
    flow = np.stack([ux, uy], axis=-1).astype(np.float32)  # N,H,W,2  (x, y)
    return mx.array(frames), mx.array(flow)


def bilinear_sample(img, flow):
    """Sample img (N,H,W,1) at x + flow with bilinear weights, border clamp."""
    n = img.shape[0]
    gy, gx = mx.meshgrid(mx.arange(H, dtype=mx.float32), mx.arange(W, dtype=mx.float32), indexing="ij")
    px = mx.clip(gx[None] + flow[..., 0], 0, W - 1)
    py = mx.clip(gy[None] + flow[..., 1], 0, H - 1)
    x0 = mx.stop_gradient(mx.floor(px))
    y0 = mx.stop_gradient(mx.floor(py))
    wx = px - x0
    wy = py - y0
    x0i = x0.astype(mx.int32)
    y0i = y0.astype(mx.int32)
    x1i = mx.minimum(x0i + 1, W - 1)
    y1i = mx.minimum(y0i + 1, H - 1)
    flat = img.reshape(n, H * W)

    def gather(yi, xi):
        return mx.take_along_axis(flat, (yi * W + xi).reshape(n, H * W), axis=1).reshape(n, H, W)

    top = gather(y0i, x0i) * (1 - wx) + gather(y0i, x1i) * wx
    bot = gather(y1i, x0i) * (1 - wx) + gather(y1i, x1i) * wx
    return (top * (1 - wy) + bot * wy)[..., None]


class FlowNetTiny(nn.Module):
    def __init__(self, ch=12):
        super().__init__()
        self.c1 = nn.Conv2d(4, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c3 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c4 = nn.Conv2d(ch, ch, 3, padding=1)
        self.head = nn.Conv2d(ch, 2, 3, padding=1)

    def __call__(self, frames):
        diff = frames[..., 1:2] - frames[..., 0:1]
        mean = 0.5 * (frames[..., 1:2] + frames[..., 0:1])
        x = mx.concatenate([frames, diff, mean], axis=-1)
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h)) + h
        h = nn.gelu(self.c3(h)) + h
        h = nn.gelu(self.c4(h)) + h
        return self.head(h)


def epe(pred, flow):
    return mx.sqrt(mx.sum((pred - flow) ** 2, axis=-1) + 1e-9).mean()


def loss_fn(model, frames, flow):
    pred = model(frames)
    warped = bilinear_sample(frames[..., 1:2], pred)
    photo = mx.abs(warped - frames[..., 0:1]).mean()
    return epe(pred, flow) + 0.5 * photo


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP          # step 0 -> lr exactly 0
    t = (step - WARMUP) / max(1, STEPS - WARMUP)
    return 0.5 * PEAK_LR * (1 + math.cos(math.pi * t))


def save_ckpt(model, opt, step, path):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.savez(os.path.join(path, "opt.npz"), **state)
    with open(os.path.join(path, "step.txt"), "w") as fh:
        fh.write(str(step))


def load_ckpt(path):
    model = FlowNetTiny()
    model.load_weights(os.path.join(path, "weights.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "opt.npz")).items()))
    with open(os.path.join(path, "step.txt")) as fh:
        step = int(fh.read())
    return model, opt, step


def evaluate(model, frames, flow):
    pred = model(frames)
    return epe(pred, flow).item()


def main():
    mx.random.seed(3)
    train_f, train_u = make_pairs(1024)
    val_f, val_u = make_pairs(128)
    zero_epe = epe(mx.zeros_like(val_u), val_u).item()
    mean_u = train_u.mean(axis=(0, 1, 2))
    mean_epe = epe(mx.broadcast_to(mean_u, val_u.shape), val_u).item()
    print(f"baselines on val: zero-flow EPE {zero_epe:.3f}px, mean-flow EPE {mean_epe:.3f}px")

    model = FlowNetTiny()
    opt = optim.Adam(learning_rate=0.0)
    step_fn = nn.value_and_grad(model, loss_fn)
    print(f"start: val EPE {evaluate(model, val_f, val_u):.3f}px  params "
          f"{sum(v.size for _, v in tree_flatten(model.parameters()))}")

    ckdir = tempfile.mkdtemp()
    t0 = time.time()
    step = 0
    running = 0.0
    while step < STEPS:
        idx = mx.array(rng.integers(0, train_f.shape[0], BATCH))
        opt.learning_rate = lr_at(step)
        loss, grads = step_fn(model, train_f[idx], train_u[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        step += 1
        if step % LOG_EVERY == 0:
            v = evaluate(model, val_f, val_u)
            print(f"step {step:4d}  lr {lr_at(step - 1):.2e}  train {running / LOG_EVERY:.4f}  "
                  f"val EPE {v:.3f}px  (zero {zero_epe:.3f}, mean {mean_epe:.3f})  {time.time() - t0:.1f}s")
            running = 0.0
        if step == CKPT_AT:
            before = evaluate(model, val_f, val_u)
            save_ckpt(model, opt, step, ckdir)
            del model, opt, step_fn
            model, opt, step = load_ckpt(ckdir)
            step_fn = nn.value_and_grad(model, loss_fn)
            after = evaluate(model, val_f, val_u)
            print(f"checkpoint written and reloaded at step {step}: val EPE {before:.3f} -> {after:.3f}")

    final = evaluate(model, val_f, val_u)
    print(f"final val EPE {final:.3f}px vs zero-flow {zero_epe:.3f}px, mean-flow {mean_epe:.3f}px")
    print(f"EPE ratio to zero-flow baseline: {final / zero_epe:.3f}")


if __name__ == "__main__":
    main()
