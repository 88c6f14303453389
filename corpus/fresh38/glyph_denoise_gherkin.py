# Convolutional denoiser for 12x12 synthetic "glyphs" (random strokes) under
# heavy Gaussian noise. Residual Conv2d net predicts the noise; trained with
# AdamW on fresh noise every step over a fixed set of clean glyphs.
# Output is written as Gherkin scenarios (Feature / Scenario / Given / Then).
import math
import random
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(5)
mx.random.seed(5)
H = W = 12
SIG = 0.5


def glyph():
    img = [[0.0] * W for _ in range(H)]
    for _ in range(random.randint(2, 4)):
        if random.random() < 0.5:
            r, c0 = random.randrange(H), random.randrange(W - 4)
            for c in range(c0, c0 + random.randint(4, W - c0)):
                img[r][c] = 1.0
        else:
            c, r0 = random.randrange(W), random.randrange(H - 4)
            for r in range(r0, r0 + random.randint(4, H - r0)):
                img[r][c] = 1.0
    return img


train_clean = mx.array([glyph() for _ in range(512)])[..., None]   # NHWC
val_clean = mx.array([glyph() for _ in range(128)])[..., None]
val_noisy = val_clean + SIG * mx.random.normal(val_clean.shape)


class Denoiser(nn.Module):
    def __init__(self, ch=8):
        super().__init__()
        self.inp = nn.Conv2d(1, ch, 3, padding=1)
        self.mid = [nn.Conv2d(ch, ch, 3, padding=1) for _ in range(3)]
        self.out = nn.Conv2d(ch, 1, 3, padding=1)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        for conv in self.mid:
            h = h + nn.relu(conv(h))
        return x - self.out(h)            # subtract predicted noise


def loss_fn(model, noisy, clean):
    return ((model(noisy) - clean) ** 2).mean()


def psnr(a, b):
    return 10 * math.log10(1.0 / max(((a - b) ** 2).mean().item(), 1e-12))


model = Denoiser()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
noisy0 = train_clean[:32] + SIG * mx.random.normal((32, H, W, 1))
_, g0 = vg(model, noisy0, train_clean[:32])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print("Feature: glyph denoising")
print(f"  # {len(tree_flatten(g0))} gradient leaves, {len(zero)} all-zero")
print(f"  # noisy-input PSNR on validation: {psnr(val_noisy, val_clean):.2f} dB")
print()

opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 600, 3e-4), weight_decay=1e-4)
t0 = time.time()
for step in range(1, 601):
    ids = mx.random.randint(0, train_clean.shape[0], (32,))
    clean = train_clean[ids]
    noisy = clean + SIG * mx.random.normal(clean.shape)
    loss, grads = vg(model, noisy, clean)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 50) or step % 100 == 0:
        den = model(val_noisy)
        print(f"  Scenario: step {step}")
        print(f"    Given a training batch with mse {loss.item():.5f}")
        print(f"    When the validation glyphs are denoised")
        print(f"    Then the PSNR is {psnr(den, val_clean):.2f} dB")
        print(f"    And the stroke-pixel error is {float((mx.abs(den - val_clean) * (val_clean > 0.5)).sum() / (val_clean > 0.5).sum()):.4f}")
        print(f"    But {time.time() - t0:.1f} seconds have passed")
        print()
print("  # all scenarios passed")
