"""Philately catalogue search: a tiny CLIP-style dual encoder in MLX.

Synthetic 8x8 RGB stamp scans (ink colour x border motif x denomination bars)
are matched with 3-word catalogue entries.  Symmetric InfoNCE over the batch
with a learned temperature (log scale, clamped at 100).  Catalogue entries
repeat (48 distinct ones), so a batch holds duplicates and the contrastive
loss has a floor above zero.  The batch grows from 32 to 128 halfway, which
adds negatives: the loss steps up at the switch while retrieval keeps
improving.  Nothing is printed while a stage runs; each stage ends with a
table of its windows.
"""
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

INKS = ["carmine", "ultramarine", "emerald", "sepia"]
MOTIFS = ["laurel", "crown", "plain", "perforated"]
DENOMS = ["1d", "2d", "6d"]
VOCAB = INKS + MOTIFS + DENOMS
INK_RGB = np.array([[0.85, 0.1, 0.2], [0.1, 0.2, 0.85], [0.1, 0.7, 0.3], [0.5, 0.35, 0.2]], np.float32)

rng = np.random.default_rng(3131)


def border(kind):
    m = np.zeros((8, 8), np.float32)
    if kind == 0:
        m[0, ::2] = m[7, 1::2] = 1
    elif kind == 1:
        m[0, 2:6] = 1
        m[1, 3:5] = 1
    elif kind == 3:
        m[0, :] = m[7, :] = m[:, 0] = m[:, 7] = 1
        m[::2, 0] = m[::2, 7] = 0
    return m


BORDERS = np.stack([border(k) for k in range(4)])


def make_set(n):
    ink = rng.integers(0, 4, n)
    mot = rng.integers(0, 4, n)
    den = rng.integers(0, 3, n)
    img = np.ones((n, 8, 8, 3), np.float32) * 0.15
    img[:, 2:6, 2:6, :] += INK_RGB[ink][:, None, None, :] * 0.8
    img += BORDERS[mot][..., None] * 0.7
    for i in range(n):
        img[i, 6, 1:2 + 2 * den[i], :] = 1.0
    img += rng.normal(0, 0.1, img.shape).astype(np.float32)
    txt = np.stack([ink, 4 + mot, 8 + den], axis=1).astype(np.int32)
    key = ink * 12 + mot * 3 + den
    return img, txt, key


class ImageTower(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(192, 128), nn.GELU(), nn.Linear(128, 64), nn.GELU(), nn.Linear(64, d))

    def __call__(self, x):
        return self.net(x.reshape(x.shape[0], -1))


class TextTower(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), 48)
        self.pos = nn.Embedding(3, 48)
        self.net = nn.Sequential(nn.GELU(), nn.Linear(48, 64), nn.GELU(), nn.Linear(64, d))

    def __call__(self, t):
        h = self.embed(t) + self.pos(mx.arange(3))
        return self.net(h.mean(axis=1))


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = ImageTower()
        self.text = TextTower()
        self.log_scale = mx.array(math.log(1 / 0.07))

    def __call__(self, img, txt):
        zi = self.image(img)
        zt = self.text(txt)
        zi = zi / mx.linalg.norm(zi, axis=-1, keepdims=True)
        zt = zt / mx.linalg.norm(zt, axis=-1, keepdims=True)
        scale = mx.minimum(mx.exp(self.log_scale), 100.0)
        return scale * zi @ zt.T


def clip_loss(model, img, txt):
    logits = model(img, txt)
    labels = mx.arange(logits.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def retrieval(model, img, txt, key):
    """image -> catalogue entry top-1 over the 48 distinct entries."""
    all_txt = np.array([[i, 4 + m, 8 + d] for i in range(4) for m in range(4) for d in range(3)], np.int32)
    logits = model(img, mx.array(all_txt))
    pred = np.array(mx.argmax(logits, axis=1))
    return 100.0 * float(np.mean(pred == key))


def batch_floor(batch, n_keys=48, trials=400):
    """Expected InfoNCE loss of a perfect encoder at scale 100 when duplicate
    entries in a batch are indistinguishable: mean log(count of own entry)."""
    vals = []
    for _ in range(trials):
        k = rng.integers(0, n_keys, batch)
        counts = np.bincount(k, minlength=n_keys)
        vals.append(np.mean(np.log(counts[k])))
    return float(np.mean(vals))


def main():
    mx.random.seed(3131)
    t0 = time.time()
    tr_img, tr_txt, _ = make_set(8000)
    va_img, va_txt, va_key = make_set(800)
    tr_img, tr_txt = mx.array(tr_img), mx.array(tr_txt)
    va_img, va_txt = mx.array(va_img), mx.array(va_txt)

    model = DualEncoder()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(img, txt):
        loss, grads = nn.value_and_grad(model, clip_loss)(model, img, txt)
        grads, norm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss, norm

    g = nn.value_and_grad(model, clip_loss)(model, tr_img[:32], tr_txt[:32])[1]
    flat = tree_flatten(g)
    print(f"philately dual encoder | {tr_img.shape[0]} train pairs, 48 catalogue entries, "
          f"{sum(v.size for _, v in tree_flatten(model.parameters()))} params | "
          f"first-batch grads: {len(flat)} leaves, {sum(mx.abs(v).max().item() == 0 for _, v in flat)} all-zero")
    print(f"untrained: image->entry top-1 {retrieval(model, va_img, va_txt, va_key):.1f}% (chance {100 / 48:.1f}%)")

    for stage, (batch, steps) in enumerate([(32, 300), (128, 300)], 1):
        floor = batch_floor(batch)
        rows, window = [], []
        for it in range(1, steps + 1):
            idx = mx.array(rng.integers(0, tr_img.shape[0], batch))
            loss, norm = step(tr_img[idx], tr_txt[idx])
            mx.eval(state, loss, norm)
            window.append((loss.item(), norm.item()))
            if it % 50 == 0:
                r = retrieval(model, va_img, va_txt, va_key)
                vl = clip_loss(model, va_img[:batch], va_txt[:batch]).item()
                rows.append((it, np.mean([w[0] for w in window]), vl, np.mean([w[1] for w in window]),
                             math.exp(min(model.log_scale.item(), math.log(100.0))), r))
                window = []
        print(f"\nstage {stage}: batch {batch}, chance in-batch loss ln({batch}) = {math.log(batch):.3f}, "
              f"duplicate floor ~{floor:.3f}")
        print(f"{'step':>6} {'train':>8} {'val':>8} {'|g|':>7} {'scale':>7} {'top1%':>7}")
        for it, tl, vl, gn, sc, r in rows:
            print(f"{it:>6d} {tl:>8.4f} {vl:>8.4f} {gn:>7.3f} {sc:>7.2f} {r:>7.1f}")
    print(f"\ndone in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
