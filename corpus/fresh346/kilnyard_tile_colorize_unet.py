"""Paired grey -> colour restoration of glazed roof-tile swatches (pix2pix style).

Each 8x8 swatch has an olive background and one or two glazed strips; flat
(wide) strips are rust-glazed, upright (tall) strips are teal-glazed, so the
colour is only recoverable from shape, not from the grey level.  A small U-Net
colourizer is trained against a conditional PatchGAN critic:

  stage "l1-only"     steps   1-100  pure L1, critic kept idle on purpose
  stage "adversarial" steps 101-300  adversarial weight ramped up from 0

The colourizer's learning rate warms up from exactly 0.  An EMA copy of the
colourizer is scored beside the raw one.  At step 180 the whole run is written
to a checkpoint folder, every object is thrown away and rebuilt from that
folder, and training resumes from step 181.
"""
import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 11
H = W = 8
BATCH = 16
STEPS = 300
STAGE_SWITCH = 100
RAMP = 50
CKPT_AT = 180
G_LR = 2e-3
D_LR = 1e-3
WARMUP = 25
L1_WEIGHT = 10.0
EMA_DECAY = 0.95
LOG_EVERY = 20
EVAL_EVERY = 60

BG = np.array([0.1, 0.2, -0.4], dtype=np.float32)
RUST = np.array([0.8, -0.3, -0.6], dtype=np.float32)
TEAL = np.array([-0.6, 0.5, 0.6], dtype=np.float32)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def make_swatches(rng, n):
    rgb = np.broadcast_to(BG, (n, H, W, 3)).copy()
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            long_side, short_side = rng.integers(4, 7), rng.integers(1, 3)
            if rng.random() < 0.5:
                h, w, colour = short_side, long_side, RUST
            else:
                h, w, colour = long_side, short_side, TEAL
            y, x = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
            rgb[i, y : y + h, x : x + w] = colour
    rgb = np.clip(rgb + rng.normal(0, 0.04, rgb.shape), -1, 1).astype(np.float32)
    grey = (rgb @ LUMA)[..., None].astype(np.float32)
    return grey, rgb


class Colorizer(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.e1 = nn.Conv2d(1, ch, 3, padding=1)
        self.e2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.d1 = nn.Conv2d(3 * ch, ch, 3, padding=1)
        self.head = nn.Conv2d(ch, 3, 1)

    def __call__(self, grey):
        s1 = nn.relu(self.e1(grey))
        h = nn.relu(self.e2(s1))
        h = nn.relu(self.mid(h))
        h = self.up(h)
        h = nn.relu(self.d1(mx.concatenate([h, s1], axis=-1)))
        return mx.tanh(self.head(h))


class PairCritic(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.c1 = nn.Conv2d(4, ch, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(2 * ch, 1, 3, padding=1)

    def __call__(self, grey, rgb):
        h = nn.leaky_relu(self.c1(mx.concatenate([grey, rgb], axis=-1)), 0.2)
        h = nn.leaky_relu(self.c2(h), 0.2)
        return self.c3(h)


def bce(logits, target):
    return nn.losses.binary_cross_entropy(logits, mx.full(logits.shape, target), with_logits=True)


def psnr(pred, target):
    mse = mx.mean((pred - target) ** 2).item()
    return 10.0 * np.log10(4.0 / mse)  # signal range is [-1, 1]


def g_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, G_LR, WARMUP), lambda _: mx.array(G_LR)], [WARMUP]
    )


def build():
    g, d, ema = Colorizer(), PairCritic(), Colorizer()
    ema.update(tree_map(lambda p: mx.array(p), g.parameters()))
    mx.eval(g.parameters(), d.parameters(), ema.parameters())
    opt_g = optim.Adam(learning_rate=g_schedule(), betas=[0.5, 0.999])
    opt_d = optim.Adam(learning_rate=D_LR, betas=[0.5, 0.999])
    return g, d, ema, opt_g, opt_d


def save_run(folder, g, d, ema, opt_g, opt_d, step, rng):
    mx.save_safetensors(os.path.join(folder, "colorizer.safetensors"), dict(tree_flatten(g.parameters())))
    mx.save_safetensors(os.path.join(folder, "critic.safetensors"), dict(tree_flatten(d.parameters())))
    mx.save_safetensors(os.path.join(folder, "ema.safetensors"), dict(tree_flatten(ema.parameters())))
    mx.save_safetensors(os.path.join(folder, "opt_g.safetensors"), dict(tree_flatten(opt_g.state)))
    mx.save_safetensors(os.path.join(folder, "opt_d.safetensors"), dict(tree_flatten(opt_d.state)))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"step": step, "rng": rng.bit_generator.state}, f)


def load_run(folder):
    g, d, ema, opt_g, opt_d = build()
    g.load_weights(os.path.join(folder, "colorizer.safetensors"))
    d.load_weights(os.path.join(folder, "critic.safetensors"))
    ema.load_weights(os.path.join(folder, "ema.safetensors"))
    opt_g.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_g.safetensors")).items()))
    opt_d.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_d.safetensors")).items()))
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    mx.eval(g.parameters(), d.parameters(), ema.parameters(), opt_g.state, opt_d.state)
    return g, d, ema, opt_g, opt_d, meta["step"], rng


def max_diff(a, b):
    fa, fb = dict(tree_flatten(a)), dict(tree_flatten(b))
    return max(mx.max(mx.abs(fa[k] - fb[k])).item() for k in fa)


mx.random.seed(SEED)
rng = np.random.default_rng(SEED)
train_grey, train_rgb = (mx.array(a) for a in make_swatches(rng, 768))
val_grey, val_rgb = (mx.array(a) for a in make_swatches(np.random.default_rng(999), 192))

base_grey = psnr(mx.repeat(val_grey, 3, axis=-1), val_rgb)
base_mean = psnr(mx.mean(train_rgb, axis=(0, 1, 2), keepdims=True) * mx.ones_like(val_rgb), val_rgb)
print(f"val baselines: grey-copied-to-rgb PSNR={base_grey:.2f} dB   mean-colour PSNR={base_mean:.2f} dB")

g, d, ema, opt_g, opt_d = build()


def scores(tag, step):
    raw = psnr(g(val_grey), val_rgb)
    smooth = psnr(ema(val_grey), val_rgb)
    l1 = mx.mean(mx.abs(g(val_grey) - val_rgb)).item()
    print(
        f"  [{tag} {step}] val PSNR raw={raw:.2f} dB  ema={smooth:.2f} dB  "
        f"(baselines {base_grey:.2f} / {base_mean:.2f})  log10 val L1={np.log10(l1):.3f}"
    )
    return raw, smooth


def g_loss(model, grey, rgb, adv_w):
    fake = model(grey)
    l1 = mx.mean(mx.abs(fake - rgb))
    adv = bce(d(grey, fake), 1.0)
    return L1_WEIGHT * l1 + adv_w * adv, (l1, adv, fake)


def d_loss(model, grey, rgb, fake):
    return 0.5 * (bce(model(grey, rgb), 1.0) + bce(model(grey, fake), 0.0))


scores("eval", 0)
t0 = time.time()
step = 0
ckpt_dir = tempfile.mkdtemp(None, "kilnyard_")
window = []
while step < STEPS:
    step += 1
    idx = mx.array(rng.integers(0, train_grey.shape[0], size=BATCH))
    grey, rgb = train_grey[idx], train_rgb[idx]
    adversarial = step > STAGE_SWITCH
    adv_w = min(1.0, (step - STAGE_SWITCH) / RAMP) if adversarial else 0.0

    lr_now = opt_g.learning_rate.item()
    (total, (l1, adv, fake)), grads = nn.value_and_grad(g, g_loss)(g, grey, rgb, adv_w)
    opt_g.update(g, grads)
    ema.update(tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema.parameters(), g.parameters()))
    mx.eval(g.parameters(), ema.parameters(), opt_g.state, l1, adv)

    dl = float("nan")
    if adversarial:
        loss_d, d_grads = nn.value_and_grad(d, d_loss)(d, grey, rgb, mx.stop_gradient(fake))
        opt_d.update(d, d_grads)
        mx.eval(d.parameters(), opt_d.state, loss_d)
        dl = loss_d.item()
    window.append((l1.item(), adv.item(), dl))

    if step % LOG_EVERY == 0:
        w = np.array(window)
        stage = "adversarial" if adversarial else "l1-only"
        d_txt = f"{np.nanmean(w[:, 2]):.4f}" if adversarial else "idle"
        print(
            f"step {step:3d} [{stage}] lr_g={lr_now:.2e} adv_w={adv_w:.2f} "
            f"L1={w[:, 0].mean():.4f} G_adv={w[:, 1].mean():.4f} D={d_txt}"
        )
        window = []
    if step % EVAL_EVERY == 0:
        scores("eval", step)

    if step == CKPT_AT:
        before = scores("before save", step)
        save_run(ckpt_dir, g, d, ema, opt_g, opt_d, step, rng)
        ref_g, ref_ema = g.parameters(), ema.parameters()
        ref_opt_step = opt_g.state["step"].item()
        del g, d, ema, opt_g, opt_d
        g, d, ema, opt_g, opt_d, step, rng = load_run(ckpt_dir)
        print(
            f"  restored from {os.path.basename(ckpt_dir)}: step={step} "
            f"opt_g.step={opt_g.state['step'].item()} (saved {ref_opt_step}) "
            f"max|dW| colorizer={max_diff(ref_g, g.parameters()):.1e} ema={max_diff(ref_ema, ema.parameters()):.1e}"
        )
        after = scores("after load", step)
        assert abs(before[0] - after[0]) < 1e-4 and abs(before[1] - after[1]) < 1e-4

raw, smooth = scores("final", step)
shutil.rmtree(ckpt_dir)
print(f"elapsed {time.time() - t0:.1f}s")
print(
    f"final val PSNR raw={raw:.2f} dB ema={smooth:.2f} dB; gain over best baseline "
    f"{raw - max(base_grey, base_mean):+.2f} dB"
)
