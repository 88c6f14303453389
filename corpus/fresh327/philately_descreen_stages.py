"""Descreening scanned stamp proofs: remove the halftone dot screen from 16x16 grey crops.

Stage A trains on a PSNR objective (reported as -PSNR, so it is negative and falls).
The stage A weights are written to disk, reloaded into a fresh model, and stage B
adds a feature-matching term measured by a frozen random filter bank.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SIZE = 16


def stamp_crops(seed, n):
    r = np.random.default_rng(seed)
    t = np.arange(SIZE) + 0.5
    yy, xx = np.meshgrid(t, t, indexing="ij")
    clean = np.zeros((n, SIZE, SIZE), np.float32)
    for k in range(n):
        img = 0.5 + 0.2 * np.sin(2 * math.pi * (r.uniform(-0.08, 0.08) * xx + r.uniform(-0.08, 0.08) * yy) + r.uniform(0, 6.3))
        for _ in range(r.integers(1, 4)):
            y0, x0 = r.integers(0, SIZE - 4, 2)
            h, w = r.integers(3, 9, 2)
            img[y0 : y0 + h, x0 : x0 + w] += r.uniform(-0.35, 0.35)
        clean[k] = np.clip(img, 0.0, 1.0)
    # 45 degree dot screen, period ~2.8 px, plus scanner noise
    screen = 0.5 + 0.5 * np.cos(2 * math.pi * (xx + yy) / 2.8) * np.cos(2 * math.pi * (xx - yy) / 2.8)
    dirty = clean * (0.65 + 0.7 * screen) + r.normal(0, 0.02, clean.shape)
    return mx.array(dirty[..., None].astype(np.float32)), mx.array(clean[..., None])


class Descreener(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.c1 = nn.Conv2d(1, width, 5, padding=2)
        self.c2 = nn.Conv2d(width, width, 3, padding=1)
        self.c3 = nn.Conv2d(width, 1, 3, padding=1)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return x + self.c3(h)


class FilterBank(nn.Module):
    """Fixed random 5x5 filters used only as a feature space for stage B."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 5, padding=2, bias=False)

    def __call__(self, x):
        return nn.relu(self.conv(x))


def psnr(pred, target):
    return 10 * mx.log10(1.0 / (mx.mean((pred - target) ** 2) + 1e-10))


def box_blur(x):
    k = mx.ones((1, 3, 3, 1)) / 9.0
    return mx.conv2d(mx.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="edge"), k)


def schedule(steps, peak):
    warm = 25
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 0.05 * peak)], [warm]
    )


def run_stage(name, model, train, val, steps, peak, feat=None, feat_w=0.0, log_every=20):
    x_tr, y_tr = train
    opt = optim.Lion(learning_rate=schedule(steps, peak), weight_decay=1e-4)

    def loss_fn(m, x, y):
        p = m(x)
        loss = -psnr(p, y)
        if feat is not None:
            loss = loss + feat_w * mx.mean(mx.abs(feat(p) - feat(y))) * 100
        return loss

    step_fn = nn.value_and_grad(model, loss_fn)
    r = np.random.default_rng(ord(name[0]))
    for s in range(1, steps + 1):
        idx = mx.array(r.integers(0, x_tr.shape[0], 32))
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if s == 1 or s % log_every == 0:
            vp = psnr(model(val[0]), val[1]).item()
            print(f"[{name}] step {s:3d}  lr {opt.learning_rate.item():.2e}  loss {loss.item():8.3f}  val PSNR {vp:6.2f} dB")
    return model


def main():
    mx.random.seed(7)
    train = stamp_crops(11, 2000)
    val = stamp_crops(12, 300)
    print(f"baseline  screened input  PSNR {psnr(val[0], val[1]).item():.2f} dB")
    print(f"baseline  3x3 box blur    PSNR {psnr(box_blur(val[0]), val[1]).item():.2f} dB")

    t0 = time.time()
    model = Descreener()
    mx.eval(model.parameters())
    run_stage("A", model, train, val, steps=160, peak=1e-3)

    ckpt = os.path.join(tempfile.mkdtemp(), "descreener_stageA.safetensors")
    model.save_weights(ckpt)
    resumed = Descreener()
    resumed.load_weights(ckpt)
    mx.eval(resumed.parameters())
    print(f"reloaded {os.path.basename(ckpt)}  val PSNR {psnr(resumed(val[0]), val[1]).item():.2f} dB")

    bank = FilterBank()
    bank.freeze()
    mx.eval(bank.parameters())
    run_stage("B", resumed, train, val, steps=100, peak=3e-4, feat=bank, feat_w=0.1)

    final = psnr(resumed(val[0]), val[1]).item()
    print(f"final val PSNR {final:.2f} dB  (box blur {psnr(box_blur(val[0]), val[1]).item():.2f} dB)  {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
