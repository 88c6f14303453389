# Sigmoid image-text pretraining (SigLIP-style) of a tiny dual encoder on
# synthetic seed-packet scans. Each packet shows a seed blob whose shape,
# colour and position code three attributes; the caption is the three
# attribute words. 15% of training captions are shuffled on purpose
# (label noise), so the loss settles on a floor above zero.
#
# Stage 1: both towers train, AdamW, lr warm-up from exactly 0 then cosine.
# Stage 2: image tower frozen on purpose, text tower keeps training with a
#          fresh optimizer at a lower rate (drift of the frozen tower checked).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

IMG, PATCH = 12, 4
N_SHAPE, N_COLOUR, N_SPOT = 4, 3, 3
VOCAB = N_SHAPE + N_COLOUR + N_SPOT
EMB = 32
BATCH = 32


def render(rng, shape, colour, spot):
    img = rng.normal(0, 0.3, size=(3, IMG, IMG)).astype(np.float32)
    r = 2 + rng.integers(0, 2)
    c = [1, 4, 7][spot] + rng.integers(0, 2)
    if shape == 0:
        img[colour, r:r + 6, c:c + 3] += 1.5          # tall
    elif shape == 1:
        img[colour, r + 2:r + 4, c:c + 4] += 1.5      # flat
    elif shape == 2:
        img[colour, r:r + 4, c:c + 4] += 1.5          # square
    else:
        img[colour, r + 1:r + 3, c + 1:c + 3] += 2.5  # dot
    return img


def make_split(n, seed, noise):
    rng = np.random.default_rng(seed)
    attrs = np.stack([rng.integers(0, N_SHAPE, n), rng.integers(0, N_COLOUR, n),
                      rng.integers(0, N_SPOT, n)], axis=1)
    imgs = np.stack([render(rng, *a) for a in attrs])
    words = attrs + np.array([0, N_SHAPE, N_SHAPE + N_COLOUR])
    if noise > 0:
        k = int(noise * n)
        idx = rng.choice(n, k, replace=False)
        words[idx] = words[rng.permutation(idx)]
    return mx.array(imgs), mx.array(words.astype(np.int32)), attrs


class ImageTower(nn.Module):
    def __init__(self):
        super().__init__()
        g = IMG // PATCH
        self.patch = nn.Linear(3 * PATCH * PATCH, 48)
        self.pos = mx.zeros((g * g, 48))
        self.mix = nn.Linear(48 * g * g, 64)
        self.out = nn.Linear(64, EMB)

    def __call__(self, x):
        b, g = x.shape[0], IMG // PATCH
        x = x.reshape(b, 3, g, PATCH, g, PATCH).transpose(0, 2, 4, 1, 3, 5)
        x = nn.gelu(self.patch(x.reshape(b, g * g, -1)) + self.pos)
        return self.out(nn.gelu(self.mix(x.reshape(b, -1))))


class TextTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 48)
        self.mlp = nn.Sequential(nn.Linear(48, 64), nn.GELU(), nn.Linear(64, EMB))

    def __call__(self, words):
        return self.mlp(self.emb(words).sum(axis=1))


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_tower = ImageTower()
        self.text_tower = TextTower()
        self.t_prime = mx.array(math.log(10.0))
        self.bias = mx.array(-10.0)

    def embed(self, imgs, words):
        zi = self.image_tower(imgs)
        zt = self.text_tower(words)
        zi = zi / mx.linalg.norm(zi, axis=-1, keepdims=True)
        zt = zt / mx.linalg.norm(zt, axis=-1, keepdims=True)
        return zi, zt


def sigmoid_loss(model, imgs, words):
    zi, zt = model.embed(imgs, words)
    logits = mx.exp(model.t_prime) * zi @ zt.T + model.bias
    n = logits.shape[0]
    z = 2 * mx.eye(n) - 1
    return -mx.sum(nn.log_sigmoid(z * logits)) / n


def recall_at_1(model, imgs, words, attrs):
    zi, zt = model.embed(imgs, words)
    sims = np.array(zi @ zt.T)
    best = sims.argmax(axis=1)
    # a retrieved caption counts when it names the same three attributes
    return float((attrs[best] == attrs).all(axis=1).mean())


def run_stage(name, model, opt, steps, tr, log_every, seed):
    imgs, words, _ = tr
    n = imgs.shape[0]
    loss_and_grad = nn.value_and_grad(model, sigmoid_loss)
    rng = np.random.default_rng(seed)
    perm, pos = rng.permutation(n), 0
    for step in range(1, steps + 1):
        if pos + BATCH > n:
            perm, pos = rng.permutation(n), 0
        idx = mx.array(perm[pos:pos + BATCH])
        pos += BATCH
        loss, grads = loss_and_grad(model, imgs[idx], words[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % log_every == 0:
            print(f"[{name}] step {step:4d} loss {loss.item():7.4f} lr {opt.learning_rate.item():.2e} "
                  f"temp {math.exp(model.t_prime.item()):6.2f} bias {model.bias.item():7.3f}")


def main():
    mx.random.seed(3)
    tr = make_split(3000, seed=11, noise=0.15)
    va_imgs, va_words, va_attrs = make_split(BATCH * 8, seed=12, noise=0.0)

    model = DualEncoder()
    mx.eval(model.parameters())
    base = recall_at_1(model, va_imgs[:BATCH], va_words[:BATCH], va_attrs[:BATCH])
    print(f"untrained val r@1 on a {BATCH}-way batch: {base:.3f}   (chance {1 / BATCH:.3f})")

    warm, total = 40, 500
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    t0 = time.perf_counter()
    run_stage("stage1", model, opt, total, tr, log_every=50, seed=0)

    def val_r1():
        rs = [recall_at_1(model, va_imgs[i:i + BATCH], va_words[i:i + BATCH], va_attrs[i:i + BATCH])
              for i in range(0, va_imgs.shape[0], BATCH)]
        return sum(rs) / len(rs)

    print(f"after stage1: val r@1 {val_r1():.3f}  baseline {base:.3f}  ({time.perf_counter() - t0:.1f}s)")

    frozen_before = {k: np.array(v) for k, v in tree_flatten(model.image_tower.parameters())}
    model.image_tower.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage2: image tower frozen, {n_train} trainable params left")
    opt2 = optim.AdamW(learning_rate=5e-4, weight_decay=1e-4)
    run_stage("stage2", model, opt2, 200, tr, log_every=100, seed=1)
    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
                for k, v in tree_flatten(model.image_tower.parameters()))
    print(f"image tower drift during stage2: {drift:.1f}")
    print(f"final: val r@1 {val_r1():.3f}  baseline {base:.3f}  chance {1 / BATCH:.3f}  "
          f"({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
