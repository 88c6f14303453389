# Mosaic workshop: sharpen blurred photos of tessera tiles (16x16 grey, NHWC).
# Tiny U-Net, objective = -(SSIM) + 0.2 * L1, Adam with linear warmup from 0,
# checkpoint written at step 300, then a fresh process-like rebuild resumes from it.
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
H = W = 16


def make_tiles(n):
    imgs = np.full((n, H, W), 0.15, np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        for _ in range(rng.integers(2, 5)):
            shade = rng.uniform(0.35, 1.0)
            if rng.random() < 0.5:
                y0, x0 = rng.integers(0, H - 4, size=2)
                h, w = rng.integers(3, 8, size=2)
                imgs[i, y0:y0 + h, x0:x0 + w] = shade
            else:
                cy, cx = rng.uniform(3, 13, size=2)
                r = rng.uniform(1.5, 4.0)
                imgs[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = shade
    return imgs[..., None]


def blur(imgs):
    k = np.array([1, 4, 6, 4, 1], np.float32)
    k = k / k.sum()
    p = np.pad(imgs, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="edge")
    t = sum(k[j] * p[:, :, j:j + W] for j in range(5))
    t = sum(k[j] * t[:, j:j + H] for j in range(5))
    return (t + rng.normal(0, 0.02, t.shape)).astype(np.float32)


clean_tr = make_tiles(1600)
clean_va = make_tiles(256)
blur_tr, blur_va = blur(clean_tr), blur(clean_va)
Xtr, Ytr = mx.array(blur_tr), mx.array(clean_tr)
Xva, Yva = mx.array(blur_va), mx.array(clean_va)

g = np.exp(-((np.arange(7) - 3) ** 2) / (2 * 1.5**2))
g2 = np.outer(g, g)
WIN = mx.array((g2 / g2.sum()).astype(np.float32)[None, :, :, None])


def ssim(a, b):
    c1, c2 = 0.01**2, 0.03**2
    mu_a = mx.conv2d(a, WIN)
    mu_b = mx.conv2d(b, WIN)
    saa = mx.conv2d(a * a, WIN) - mu_a**2
    sbb = mx.conv2d(b * b, WIN) - mu_b**2
    sab = mx.conv2d(a * b, WIN) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return mx.mean(num / den)


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.n1 = nn.GroupNorm(2, cout, pytorch_compatible=True)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)

    def __call__(self, x):
        return nn.silu(self.c2(nn.silu(self.n1(self.c1(x)))))


class TinyUNet(nn.Module):
    def __init__(self, ch=8):
        super().__init__()
        self.enc1 = Block(1, ch)
        self.down = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.mid = Block(2 * ch, 2 * ch)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec1 = Block(3 * ch, ch)
        self.head = nn.Conv2d(ch, 1, 1)

    def __call__(self, x):
        e = self.enc1(x)
        m = self.mid(nn.silu(self.down(e)))
        d = self.dec1(mx.concatenate([self.up(m), e], axis=-1))
        return x + self.head(d)


def objective(model, xb, yb):
    out = model(xb)
    return -ssim(out, yb) + 0.2 * mx.mean(mx.abs(out - yb))


TOTAL, WARM, BS, CKPT_AT = 300, 50, 16, 150
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)],
    [WARM],
)


def build():
    mx.random.seed(0)
    model = TinyUNet()
    opt = optim.Adam(learning_rate=schedule)
    mx.eval(model.parameters())
    return model, opt


def run(model, opt, start, stop, ckpt_path=None):
    step_fn = nn.value_and_grad(model, objective)

    for step in range(start, stop):
        idx = mx.array(rng.integers(0, Xtr.shape[0], size=BS))
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 25 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:4d}  lr {lr:.2e}  objective {loss.item():+.4f}")
        if ckpt_path is not None and step + 1 == CKPT_AT:
            flat = dict(tree_flatten(model.parameters()))
            flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
            mx.savez(ckpt_path, **flat)
            print(f"checkpoint written after step {step} -> {os.path.basename(ckpt_path)}")
            return


def evaluate(model, tag):
    model.eval()
    out = model(Xva)
    s_model = ssim(out, Yva).item()
    s_base = ssim(Xva, Yva).item()
    l1_model = mx.mean(mx.abs(out - Yva)).item()
    l1_base = mx.mean(mx.abs(Xva - Yva)).item()
    model.train()
    print(f"[{tag}] val SSIM {s_model:.4f} (blurred input {s_base:.4f})  "
          f"val L1 {l1_model:.4f} (blurred input {l1_base:.4f})")
    return s_model, s_base


t0 = time.time()
tmp = tempfile.mkdtemp()
ckpt = os.path.join(tmp, "smalti_unet.npz")

model, opt = build()
evaluate(model, "init")
run(model, opt, 0, TOTAL, ckpt_path=ckpt)
evaluate(model, "before resume")

# resume: brand-new objects, restore weights and optimizer state from disk
model, opt = build()
saved = mx.load(ckpt)
model.update(tree_unflatten([(k, v) for k, v in saved.items() if not k.startswith("opt.")]))
opt.state = tree_unflatten([(k[4:], v) for k, v in saved.items() if k.startswith("opt.")])
print(f"resumed at optimizer step {opt.state['step'].item()}")
evaluate(model, "after resume")
run(model, opt, CKPT_AT, TOTAL)
s_model, s_base = evaluate(model, "final")
print(f"SSIM gain over blurred input: {s_model - s_base:+.4f}")
print(f"done in {time.time() - t0:.1f}s")
