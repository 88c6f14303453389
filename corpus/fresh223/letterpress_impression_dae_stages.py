"""Denoising autoencoder for letterpress type impressions.

8x8 impressions of 10 sorts (made-up block glyphs) are smudged by ink bleed
(speckle + a blurred halo).  Training runs a curriculum: three press stages
with heavier bleed each time.  Every stage restarts the learning rate from
exactly 0 with a linear warm-up and a Nesterov-SGD optimiser, so the error
jumps up at each stage boundary before it comes down again.
"""
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)

SORTS = []
for s in range(10):
    rows = [[1.0 if random.random() < 0.45 else 0.0 for _ in range(6)] for _ in range(6)]
    g = [[0.0] * 8 for _ in range(8)]
    for r in range(6):
        for c in range(6):
            g[r + 1][c + 1] = rows[r][c]
    SORTS.append(sum(g, []))
SORTS = mx.array(SORTS)                      # (10, 64)


def blur(x):
    img = x.reshape(-1, 8, 8)
    pad = mx.pad(img, [(0, 0), (1, 1), (1, 1)])
    acc = mx.zeros_like(img)
    for dr in range(3):
        for dc in range(3):
            acc = acc + pad[:, dr:dr + 8, dc:dc + 8]
    return (acc / 9.0).reshape(-1, 64)


def make_batch(n, bleed, key):
    k1, k2, k3 = mx.random.split(key, 3)
    clean = SORTS[mx.random.randint(0, 10, (n,), key=k1)]
    speck = (mx.random.uniform(shape=(n, 64), key=k2) < 0.5 * bleed).astype(mx.float32)
    dirty = (1 - bleed) * clean + bleed * blur(clean) + 0.6 * speck * bleed
    dirty = dirty + 0.1 * bleed * mx.random.normal((n, 64), key=k3)
    return dirty, clean


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Linear(64, 40)
        self.mid = nn.Linear(40, 16)
        self.up = nn.Linear(16, 40)
        self.out = nn.Linear(40, 64)

    def __call__(self, x):
        h = nn.gelu(self.down(x))
        h = nn.gelu(self.mid(h))
        h = nn.gelu(self.up(h))
        return self.out(h)


def loss_fn(model, dirty, clean):
    return nn.losses.binary_cross_entropy(model(dirty), clean, with_logits=True, reduction="mean")


model = DAE()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)

STAGES = [("proof", 0.2), ("run", 0.5), ("worn", 0.85)]
STEPS_PER_STAGE, WARM, BATCH = 300, 40, 128
val_keys = [mx.random.key(900 + i) for i in range(len(STAGES))]

print("| stage        | step | lr      | bce    | pix-err % | ink-in % (ref) | psnr dB |")
print("|--------------|------|---------|--------|-----------|----------------|---------|")
gkey = mx.random.key(1)
for si, (name, bleed) in enumerate(STAGES):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.6, WARM), optim.cosine_decay(0.6, STEPS_PER_STAGE - WARM, 0.02)],
        [WARM],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vd, vc = make_batch(512, bleed, val_keys[si])
    ref_err = float(mx.mean(((vd > 0.5).astype(mx.float32) != vc).astype(mx.float32)).item()) * 100
    for step in range(STEPS_PER_STAGE + 1):
        if step > 0:
            gkey, sub = mx.random.split(gkey)
            d, c = make_batch(BATCH, bleed, sub)
            lr_used = opt.learning_rate.item()
            loss, grads = grad_fn(model, d, c)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if step in (0, 1, 10, 40, 100, 200, STEPS_PER_STAGE):
            logits = model(vd)
            vbce = nn.losses.binary_cross_entropy(logits, vc, with_logits=True).item()
            pred = (logits > 0).astype(mx.float32)
            perr = float(mx.mean((pred != vc).astype(mx.float32)).item()) * 100
            mse = float(mx.mean((mx.sigmoid(logits) - vc) ** 2).item())
            psnr = 10 * mx.log10(mx.array(1.0 / max(mse, 1e-8))).item()
            lr_show = 0.0 if step == 0 else lr_used
            print(f"| {si + 1}:{name:<10} | {step:4d} | {lr_show:.5f} | {vbce:.4f} | {perr:9.2f} | {ref_err:14.2f} | {psnr:7.2f} |")
    print("|--------------|------|---------|--------|-----------|----------------|---------|")

print("press run complete")
