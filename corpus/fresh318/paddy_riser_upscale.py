# Rice-terrace survey: 2x upscaling of coarse 8x8 elevation-shade patches to 16x16.
# Sub-pixel (pixel-shuffle) Conv2d net over a nearest-neighbour skip, L1 + Sobel edge loss,
# SGD with Nesterov momentum under cosine warm restarts (cycles of 100, 200 steps).
# The loss is only logged at the end of each cycle and at evaluations.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
HR = 16


def terraces(n):
    yy, xx = np.mgrid[0:HR, 0:HR].astype(np.float32) / HR
    out = np.empty((n, HR, HR, 1), np.float32)
    for i in range(n):
        a = rng.uniform(0, np.pi)
        f = rng.uniform(0.6, 1.4)
        ramp = np.cos(a) * xx + np.sin(a) * yy + 0.15 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * yy)
        steps = np.floor(ramp * 4) / 4 + 0.1 * ramp
        out[i, ..., 0] = 0.5 + 0.45 * np.sin(np.pi * f * steps + rng.uniform(0, 6.28))
    return out


def downsample(hr):
    n = hr.shape[0]
    return hr.reshape(n, HR // 2, 2, HR // 2, 2, 1).mean(axis=(2, 4))


hr_tr = terraces(2400)
hr_va = terraces(300)
Xtr, Ytr = mx.array(downsample(hr_tr)), mx.array(hr_tr)
Xva, Yva = mx.array(downsample(hr_va)), mx.array(hr_va)

SOBEL = mx.array(
    np.stack(
        [
            np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
            np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
        ]
    )[..., None]
)


def edges(img):
    return mx.conv2d(img, SOBEL, padding=1)


def pixel_shuffle(x, r=2):
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, r, r, c // (r * r))
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * r, w * r, c // (r * r))


class SubPixelNet(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.inp = nn.Conv2d(1, ch, 3, padding=1)
        self.body = [nn.Conv2d(ch, ch, 3, padding=1) for _ in range(2)]
        self.to_sub = nn.Conv2d(ch, 4, 3, padding=1)
        self.skip = nn.Upsample(scale_factor=2, mode="nearest")

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        for conv in self.body:
            h = h + nn.gelu(conv(h))
        return self.skip(x) + pixel_shuffle(self.to_sub(h))


def loss_fn(model, lr_img, hr_img):
    out = model(lr_img)
    return mx.mean(mx.abs(out - hr_img)) + 0.1 * mx.mean(mx.abs(edges(out) - edges(hr_img)))


def psnr(a, b):
    mse = mx.mean((a - b) ** 2)
    return (10 * mx.log10(1.0 / mse)).item()


CYCLES = [100, 200]
schedule = optim.join_schedules(
    [optim.cosine_decay(0.2, CYCLES[0], 2e-3), optim.cosine_decay(0.2, CYCLES[1], 2e-3)],
    [CYCLES[0]],
)

mx.random.seed(3)
model = SubPixelNet()
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, loss_fn)

nearest = nn.Upsample(scale_factor=2, mode="nearest")
base = psnr(nearest(Xva), Yva)
print(f"nearest-neighbour baseline PSNR {base:.2f} dB")
print(f"untrained net PSNR {psnr(model(Xva), Yva):.2f} dB")

t0 = time.time()
step = 0
BS = 32
for c, length in enumerate(CYCLES):
    running = []
    for _ in range(length):
        idx = mx.array(rng.integers(0, Xtr.shape[0], size=BS))
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        step += 1
    val = psnr(model(Xva), Yva)
    print(f"cycle {c} ended at step {step}: lr {opt.learning_rate.item():.4f}  "
          f"mean train loss (last 20) {np.mean(running[-20:]):.4f}  "
          f"val PSNR {val:.2f} dB (nearest {base:.2f} dB)")
    print(f"  first 5 losses of the cycle: {[round(v, 4) for v in running[:5]]}")

final = psnr(model(Xva), Yva)
print(f"final val PSNR {final:.2f} dB, gain over nearest {final - base:+.2f} dB")
print(f"done in {time.time() - t0:.1f}s")
