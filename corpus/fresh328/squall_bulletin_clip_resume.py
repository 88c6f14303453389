"""Radar echo thumbnails <-> forecaster bulletin phrases, CLIP-style pretraining.

Two towers (small conv net for 12x12 reflectivity thumbnails, bag-of-tokens text
tower for 3-word bulletin phrases), symmetric cross-entropy over the image-text
similarity matrix with a learnable logit scale (capped at 100).  The run is
interrupted on purpose at step 200: weights and optimizer state are written to
disk, everything is rebuilt from scratch and training resumes from the files.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SHAPES = ["cell", "line", "bow", "stratiform"]
LEVELS = ["light", "moderate", "heavy"]
QUADS = ["nw", "ne", "sw", "se"]
VOCAB = SHAPES + LEVELS + QUADS
N_CAPTIONS = len(SHAPES) * len(LEVELS) * len(QUADS)  # 48 distinct phrases
H = 12


def render(rng, shape, level, quad):
    yy, xx = np.mgrid[0:H, 0:H].astype(np.float32)
    cy = (3.0 if quad in ("nw", "ne") else 8.5) + rng.normal(0, 0.6)
    cx = (3.0 if quad in ("nw", "sw") else 8.5) + rng.normal(0, 0.6)
    amp = [0.6, 1.0, 1.5][level]
    if shape == 0:  # isolated cell
        img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
    elif shape == 1:  # squall line (elongated, tilted)
        d = (yy - cy) * 0.8 - (xx - cx) * 0.6
        along = (yy - cy) * 0.6 + (xx - cx) * 0.8
        img = np.exp(-d ** 2 / 0.8 - along ** 2 / 18.0)
    elif shape == 2:  # bow echo (arc)
        r = np.sqrt((yy - cy - 2.5) ** 2 + (xx - cx) ** 2)
        img = np.exp(-(r - 2.5) ** 2 / 0.6) * (yy < cy + 1.5)
    else:  # stratiform shield
        img = 0.55 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 14.0)
    img = amp * img + rng.normal(0, 0.12, size=img.shape)
    return img.astype(np.float32)


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, n)
    l = rng.integers(0, 3, n)
    q = rng.integers(0, 4, n)
    imgs = np.stack([render(rng, s[i], l[i], QUADS[q[i]]) for i in range(n)])[..., None]
    toks = np.stack([s, 4 + l, 7 + q], axis=1).astype(np.int32)
    cap_id = (s * 3 + l) * 4 + q
    return mx.array(imgs), mx.array(toks), cap_id


class ImageTower(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.proj = nn.Linear(3 * 3 * 32, dim)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return self.proj(h.reshape(h.shape[0], -1))


class TextTower(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), 48)
        self.mlp = nn.Sequential(nn.Linear(48, 64), nn.GELU(), nn.Linear(64, dim))

    def __call__(self, t):
        return self.mlp(self.emb(t).mean(axis=1))


class RadarClip(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = ImageTower()
        self.text = TextTower()
        self.logit_scale = mx.array(math.log(1 / 0.07))

    def embed(self, x, t):
        zi = self.image(x)
        zt = self.text(t)
        zi = zi / mx.linalg.norm(zi, axis=-1, keepdims=True)
        zt = zt / mx.linalg.norm(zt, axis=-1, keepdims=True)
        return zi, zt

    def __call__(self, x, t):
        zi, zt = self.embed(x, t)
        scale = mx.exp(mx.minimum(self.logit_scale, math.log(100.0)))
        return scale * zi @ zt.T


def clip_loss(model, x, t):
    logits = model(x, t)
    y = mx.arange(logits.shape[0])
    li = nn.losses.cross_entropy(logits, y, reduction="mean")
    lt = nn.losses.cross_entropy(logits.T, y, reduction="mean")
    return (li + lt) / 2


ALL_TOKS = mx.array(
    np.array([[s, 4 + l, 7 + q] for s in range(4) for l in range(3) for q in range(4)], np.int32)
)


def zero_shot(model, imgs, cap_id):
    zi = model.image(imgs)
    zi = zi / mx.linalg.norm(zi, axis=-1, keepdims=True)
    zt = model.text(ALL_TOKS)
    zt = zt / mx.linalg.norm(zt, axis=-1, keepdims=True)
    pred = np.array(mx.argmax(zi @ zt.T, axis=1))
    exact = float((pred == cap_id).mean())
    shape_acc = float((pred // 12 == cap_id // 12).mean())
    return exact, shape_acc


def make_optimizer(total, warm):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def expected_floor(batch, n_cls, trials=200, seed=3):
    """Loss a perfect model still pays when a batch repeats a phrase: each row
    spreads its mass over the k identical columns, so CE >= mean(log k)."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(trials):
        c = rng.integers(0, n_cls, batch)
        counts = np.bincount(c, minlength=n_cls)
        vals.append(np.log(counts[c]).mean())
    return float(np.mean(vals))


def main():
    mx.random.seed(0)
    t0 = time.time()
    tr_x, tr_t, _ = make_split(6000, 1)
    te_x, te_t, te_cap = make_split(960, 2)
    batch, total, warm, cut = 64, 400, 60, 200

    print(f"train {tr_x.shape[0]} thumbnails, test {te_x.shape[0]}, {N_CAPTIONS} distinct phrases")
    print(f"chance: exact phrase {1 / N_CAPTIONS:.3f}, shape word {1 / 4:.3f}")
    print(f"in-batch loss at random init ~ log({batch}) = {math.log(batch):.3f}; "
          f"floor from repeated phrases ~ {expected_floor(batch, N_CAPTIONS):.3f}")

    model = RadarClip()
    opt = make_optimizer(total, warm)
    mx.eval(model.parameters())
    ckpt_dir = tempfile.mkdtemp(prefix="radarclip_")
    rng = np.random.default_rng(7)

    def run(model, opt, start, stop):
        loss_and_grad = nn.value_and_grad(model, clip_loss)
        window = []
        for step in range(start, stop):
            idx = mx.array(rng.integers(0, tr_x.shape[0], batch))
            loss, grads = loss_and_grad(model, tr_x[idx], tr_t[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step == start:
                print(f"step {step:4d}  loss {loss.item():.4f}  lr {float(opt.learning_rate):.2e}  (first step of segment)")
            if (step + 1) % 50 == 0:
                ex, sh = zero_shot(model, te_x, te_cap)
                scale = math.exp(min(model.logit_scale.item(), math.log(100.0)))
                print(f"step {step + 1:4d}  loss {np.mean(window):.4f}  lr {float(opt.learning_rate):.2e}  "
                      f"scale {scale:6.2f}  zero-shot exact {ex:.3f} shape {sh:.3f}")
                window = []

    run(model, opt, 0, cut)

    wpath = os.path.join(ckpt_dir, "weights.safetensors")
    opath = os.path.join(ckpt_dir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = zero_shot(model, te_x, te_cap)
    print(f"checkpoint written at step {cut} ({len(tree_flatten(opt.state))} optimizer tensors); "
          f"rebuilding model and optimizer from disk")
    del model, opt

    model = RadarClip()
    model.load_weights(wpath)
    opt = make_optimizer(total, warm)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters())
    after = zero_shot(model, te_x, te_cap)
    print(f"resumed: optimizer step {opt.state['step'].item()}, lr {float(opt.learning_rate):.2e}, "
          f"zero-shot exact before/after reload {before[0]:.3f}/{after[0]:.3f}")

    run(model, opt, cut, total)

    ex, sh = zero_shot(model, te_x, te_cap)
    print(f"final: zero-shot exact {ex:.3f} (chance {1 / N_CAPTIONS:.3f}), "
          f"shape {sh:.3f} (chance 0.250), time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
