"""Lacquer panel restoration: fill flaked-off regions of 10x10 grey-level panels.

Panels are synthetic: a smooth background gradient, one or two painted ovals
and a faint lacquer crackle. A rectangular region is hidden; the network sees
the visible pixels plus the hole mask and predicts the whole panel. Loss is
counted on hidden pixels only. Curriculum: stage 1 uses small holes, stage 2
large holes, so the loss is expected to jump when stage 2 starts.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

S = 10
rng = np.random.default_rng(23)
yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / (S - 1)


def panel():
    a, b = rng.normal(0, 0.4, size=2)
    img = 0.5 + a * (xx - 0.5) + b * (yy - 0.5)
    for _ in range(rng.integers(1, 3)):
        cx, cy = rng.uniform(0.25, 0.75, size=2)
        rx, ry = rng.uniform(0.12, 0.3, size=2)
        tone = rng.choice([-0.45, 0.45])
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        img = img + tone * inside
    img = img + 0.03 * np.sign(np.sin(23 * xx + 17 * yy + rng.uniform(0, 6)))
    return img.astype(np.float32)


def holes(n, lo, hi):
    m = np.zeros((n, S, S), dtype=np.float32)
    for k in range(n):
        h, w = rng.integers(lo, hi + 1, size=2)
        r, c = rng.integers(0, S - h + 1), rng.integers(0, S - w + 1)
        m[k, r:r + h, c:c + w] = 1.0
    return m


N_TRAIN, N_TEST = 6000, 800
train_img = np.stack([panel() for _ in range(N_TRAIN)])
test_img = np.stack([panel() for _ in range(N_TEST)])
STAGES = [("small holes", 2, 3, 360), ("large holes", 4, 6, 480)]
test_masks = {name: holes(N_TEST, lo, hi) for name, lo, hi, _ in STAGES}
train_masks = {name: holes(3000, lo, hi) for name, lo, hi, _ in STAGES}


class Restorer(nn.Module):
    def __init__(self, d=S * S, hidden=128):
        super().__init__()
        self.l1 = nn.Linear(2 * d, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, d)

    def __call__(self, visible, mask):
        h = nn.gelu(self.l1(mx.concatenate([visible, mask], axis=-1)))
        h = h + nn.gelu(self.l2(h))
        h = h + nn.gelu(self.l3(h))
        return self.out(h)


def hidden_mse(model, img, mask):
    pred = model(img * (1 - mask), mask)
    err = (pred - img) ** 2 * mask
    return err.sum() / mask.sum()


def evaluate(model, name):
    img = mx.array(test_img.reshape(N_TEST, -1))
    m = mx.array(test_masks[name].reshape(N_TEST, -1))
    mse = hidden_mse(model, img, m).item()
    # baseline: fill each hole with the mean of that panel's visible pixels
    vis_mean = (img * (1 - m)).sum(axis=1, keepdims=True) / (1 - m).sum(axis=1, keepdims=True)
    base = (((vis_mean - img) ** 2) * m).sum().item() / m.sum().item()
    return mse, base


mx.random.seed(3)
model = Restorer()
print(f"panels train {N_TRAIN} test {N_TEST}  params "
      f"{sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}")
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, hidden_mse)
BATCH = 128
t0 = time.time()
step = 0
for name, lo, hi, n_steps in STAGES:
    mse0, base0 = evaluate(model, name)
    print(f"== stage '{name}' ({lo}-{hi} px)  start held-out hidden MSE {mse0:.4f}  "
          f"visible-mean fill {base0:.4f}")
    window = []
    for k in range(n_steps):
        idx = rng.integers(0, N_TRAIN, size=BATCH)
        img = mx.array(train_img[idx].reshape(BATCH, -1))
        m = mx.array(train_masks[name][rng.integers(0, 3000, size=BATCH)].reshape(BATCH, -1))
        # cosine decay inside each stage, restarting at the stage boundary
        opt.learning_rate = 1e-4 + 0.5 * (1e-3 - 1e-4) * (1 + math.cos(math.pi * k / n_steps))
        loss, grads = loss_and_grad(model, img, m)
        grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(loss.item())
        if (k + 1) % 120 == 0:
            print(f"step {step:5d}  lr {opt.learning_rate.item():.2e}  "
                  f"hidden MSE (last 120) {np.mean(window):.4f}  grad norm {gnorm.item():.3f}")
            window = []
    mse, base = evaluate(model, name)
    print(f"   end of stage: held-out hidden MSE {mse:.4f}  visible-mean fill {base:.4f}  "
          f"ratio {mse / base:.2f}")

for name, *_ in STAGES:
    mse, base = evaluate(model, name)
    print(f"final [{name}] hidden MSE {mse:.4f}  visible-mean fill {base:.4f}")
print(f"done in {time.time() - t0:.1f}s")
