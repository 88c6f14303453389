"""Shibori dye studio: a small progressive-growing GAN that learns 8x8 resist-dye
motifs (arashi pole-wrap stripes, itajime clamp blocks, kumo spider rings).

Stage 4x4 trains the coarse generator/critic on average-pooled swatches; stage
8x8 adds the fine layers and fades them in, the fade weight rising from 0.
Hinge objective for the critic, -mean(critic(fake)) for the generator, Adam with
beta1 = 0, and an exponential moving average of the generator for sampling.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

SIDE = 8
Z_DIM = 16
WIDTH = 8
BATCH = 32
STEPS_4 = 200
STEPS_8 = 400
FADE_STEPS = 150
REPORT = 100
FAMILIES = ("arashi", "itajime", "kumo")


# ---------------------------------------------------------------- swatches
def motif(kind, rs):
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    if kind == 0:  # arashi: diagonal stripes, period 4
        ph = rs.uniform(0, 2 * math.pi)
        img = np.cos(2 * math.pi * (xx + yy) / 4.0 + ph)
    elif kind == 1:  # itajime: 2x2 or 4x4 clamp blocks
        b = rs.choice([2, 4])
        ox, oy = rs.integers(0, b, size=2)
        img = np.where((((xx + ox) // b) + ((yy + oy) // b)) % 2 == 0, 1.0, -1.0)
    else:  # kumo: rings around a shifted centre
        cx, cy = rs.uniform(2.5, 4.5, size=2)
        r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        img = np.cos(2 * math.pi * r / 3.0)
    depth = rs.uniform(0.6, 0.9)  # how deep the indigo took
    return depth * img


def make_swatches(n, rs):
    kinds = rs.integers(0, 3, size=n)
    imgs = np.stack([motif(k, rs) for k in kinds])
    imgs = imgs + 0.08 * rs.standard_normal(imgs.shape)
    return np.clip(imgs, -1, 1).astype(np.float32)[..., None], kinds


train_np, _ = make_swatches(6000, rng)
ref_np, ref_kinds = make_swatches(600, np.random.default_rng(99))
train = mx.array(train_np)


def pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def up2(x):
    return mx.repeat(mx.repeat(x, 2, axis=1), 2, axis=2)


# template bank for the motif check: every phase / offset / centre of each family
def template_bank():
    rs = np.random.default_rng(3)
    bank, lab = [], []
    for k in range(3):
        for _ in range(160):
            t = motif(k, rs)
            t = t - t.mean()
            t = t / (np.linalg.norm(t) + 1e-8)
            bank.append(t.ravel())
            lab.append(k)
    return np.stack(bank), np.array(lab)


BANK, BANK_LAB = template_bank()


def motif_check(imgs):
    flat = imgs.reshape(imgs.shape[0], -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    flat = flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-8)
    corr = flat @ BANK.T
    best = corr.argmax(axis=1)
    fam = BANK_LAB[best]
    shares = [100.0 * np.mean(fam == k) for k in range(3)]
    return shares, float(corr.max(axis=1).mean())


# ---------------------------------------------------------------- players
class Dyer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(Z_DIM, 4 * 4 * WIDTH)
        self.b4 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1)
        self.rgb4 = nn.Conv2d(WIDTH, 1, 1)
        self.b8 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1)
        self.rgb8 = nn.Conv2d(WIDTH, 1, 1)

    def __call__(self, z, res, fade):
        h = nn.leaky_relu(self.fc(z), 0.2).reshape(-1, 4, 4, WIDTH)
        h = nn.leaky_relu(self.b4(h), 0.2)
        coarse = self.rgb4(h)
        if res == 4:
            return mx.tanh(coarse)
        fine = self.rgb8(nn.leaky_relu(self.b8(up2(h)), 0.2))
        return mx.tanh((1.0 - fade) * up2(coarse) + fade * fine)


class Inspector(nn.Module):
    def __init__(self):
        super().__init__()
        self.from8 = nn.Conv2d(1, WIDTH, 1)
        self.d8 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1)
        self.from4 = nn.Conv2d(1, WIDTH, 1)
        self.d4 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1)
        self.head = nn.Linear(4 * 4 * WIDTH, 1)

    def __call__(self, x, res, fade):
        if res == 4:
            h = nn.leaky_relu(self.from4(x), 0.2)
        else:
            fine = pool2(nn.leaky_relu(self.d8(nn.leaky_relu(self.from8(x), 0.2)), 0.2))
            coarse = nn.leaky_relu(self.from4(pool2(x)), 0.2)
            h = fade * fine + (1.0 - fade) * coarse
        h = nn.leaky_relu(self.d4(h), 0.2)
        return self.head(h.reshape(h.shape[0], -1)).squeeze(-1)


dyer, inspector, dyer_ema = Dyer(), Inspector(), Dyer()
dyer_ema.update(tree_map(lambda p: p, dyer.parameters()))
mx.eval(dyer.parameters(), inspector.parameters(), dyer_ema.parameters())

opt_g = optim.Adam(learning_rate=2e-3, betas=[0.0, 0.99])
opt_d = optim.Adam(learning_rate=2e-3, betas=[0.0, 0.99])


def critic_obj(insp, real, fake, res, fade):
    return (nn.relu(1.0 - insp(real, res, fade)).mean()
            + nn.relu(1.0 + insp(fake, res, fade)).mean())


def dyer_obj(dy, z, res, fade):
    return -inspector(dy(z, res, fade), res, fade).mean()


critic_step = nn.value_and_grad(inspector, critic_obj)
dyer_step = nn.value_and_grad(dyer, dyer_obj)


def group_norms(grads, heads):
    out = {}
    for p in heads:
        sq = sum(float((g * g).sum()) for k, g in tree_flatten(grads) if k.startswith(p))
        out[p] = math.sqrt(sq)
    return out


def sample_ema(n, res, fade):
    z = mx.random.normal((n, Z_DIM))
    return np.array(dyer_ema(z, res, fade))[..., 0]


def block(lines):
    print("---")
    for ln in lines:
        print(ln)


# reference numbers at full resolution
ref_share, ref_match = motif_check(ref_np[..., 0])
noise_share, noise_match = motif_check(np.random.default_rng(5).uniform(-1, 1, (600, SIDE, SIDE)))
block([
    "run: shibori-progressive",
    f"swatches: {train.shape[0]}  side: {SIDE}  batch: {BATCH}",
    f"reference_match: {ref_match:.3f}",
    f"noise_match: {noise_match:.3f}",
    "reference_families: {" + ", ".join(f"{f}: {s:.1f}" for f, s in zip(FAMILIES, ref_share)) + "}",
])

t0 = time.time()
window = {"hinge_d": [], "gen_obj": []}
for res, steps in ((4, STEPS_4), (8, STEPS_8)):
    for step in range(1, steps + 1):
        fade = 1.0 if res == 4 else min(1.0, (step - 1) / FADE_STEPS)
        idx = mx.array(rng.integers(0, train.shape[0], size=BATCH))
        real = train[idx]
        if res == 4:
            real = pool2(real)

        z = mx.random.normal((BATCH, Z_DIM))
        fake = mx.stop_gradient(dyer(z, res, fade))
        d_val, d_grads = critic_step(inspector, real, fake, res, fade)
        opt_d.update(inspector, d_grads)
        mx.eval(inspector.parameters(), opt_d.state, d_val)

        z = mx.random.normal((BATCH, Z_DIM))
        g_val, g_grads = dyer_step(dyer, z, res, fade)
        opt_g.update(dyer, g_grads)
        dyer_ema.update(tree_map(lambda e, p: 0.99 * e + 0.01 * p,
                                 dyer_ema.parameters(), dyer.parameters()))
        mx.eval(dyer.parameters(), dyer_ema.parameters(), opt_g.state, g_val)

        window["hinge_d"].append(float(d_val))
        window["gen_obj"].append(float(g_val))

        if step == 1:
            gn = group_norms(g_grads, ("fc", "b4", "rgb4", "b8", "rgb8"))
            dn = group_norms(d_grads, ("from8", "d8", "from4", "d4", "head"))
            block([
                f"audit: stage {res}x{res} first step",
                "  dyer_grad_norms: {" + ", ".join(f"{k}: {v:.2e}" for k, v in gn.items()) + "}",
                "  inspector_grad_norms: {" + ", ".join(f"{k}: {v:.2e}" for k, v in dn.items()) + "}",
                f"  fade: {fade:.2f}",
            ])

        if step % REPORT == 0:
            full = sample_ema(300, res, fade)
            if res == 4:
                full = np.repeat(np.repeat(full, 2, axis=1), 2, axis=2)
            shares, match = motif_check(full)
            block([
                f"stage: {res}x{res}",
                f"step: {step}",
                f"fade: {fade:.2f}",
                f"hinge_d: {np.mean(window['hinge_d']):.3f}",
                f"gen_obj: {np.mean(window['gen_obj']):+.3f}",
                f"match: {match:.3f}",
                "families: {" + ", ".join(f"{f}: {s:.1f}" for f, s in zip(FAMILIES, shares)) + "}",
                f"pixel_sd: {full.std():.3f}  (reference {ref_np.std():.3f})",
                f"elapsed_s: {time.time() - t0:.1f}",
            ])
            window = {"hinge_d": [], "gen_obj": []}

final = sample_ema(600, 8, 1.0)
shares, match = motif_check(final)
block([
    "done: true",
    f"final_match: {match:.3f}  reference: {ref_match:.3f}  noise: {noise_match:.3f}",
    "final_families: {" + ", ".join(f"{f}: {s:.1f}" for f, s in zip(FAMILIES, shares)) + "}",
    f"seconds: {time.time() - t0:.1f}",
])
