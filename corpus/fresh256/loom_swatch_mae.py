"""Masked patch pre-training on woven fabric swatches (loom QA camera).

16x16 greyscale swatches of four weaves (plain, twill, satin, basket), random
phase shift, contrast and sensor noise. A small ViT encoder sees 4 of 16 patches
(75 % masked); a light decoder rebuilds the hidden patches (per-patch
normalised pixels). The run is split into two stages with a checkpoint and a
resume in between, and ends with a ridge linear probe on frozen features.
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

P, G, NPATCH, KEEP = 4, 4, 16, 4
WEAVES = ["plain", "twill", "satin", "basket"]


def weave(kind, rng):
    y, x = np.mgrid[:16, :16]
    dy, dx = rng.integers(0, 8, size=2)
    y, x = y + dy, x + dx
    if kind == "plain":
        base = (x + y) % 2
    elif kind == "twill":
        base = ((x + y) % 4) < 2
    elif kind == "satin":
        base = ((x * 3 + y) % 5) == 0
    else:
        base = ((x // 2 + y // 2) % 2)
    img = base.astype(np.float32) * rng.uniform(0.6, 1.0) + rng.uniform(-0.2, 0.2)
    return img + rng.normal(0, 0.15, img.shape).astype(np.float32)


def make_set(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    imgs = np.stack([weave(WEAVES[k], rng) for k in labels])
    return imgs, labels


def patchify(imgs):
    b = imgs.shape[0]
    return imgs.reshape(b, G, P, G, P).transpose(0, 1, 3, 2, 4).reshape(b, NPATCH, P * P)


class MAE(nn.Module):
    def __init__(self, dim=64, dec_dim=48):
        super().__init__()
        self.embed = nn.Linear(P * P, dim)
        self.pos = mx.random.normal((NPATCH, dim)) * 0.02
        self.encoder = nn.TransformerEncoder(2, dim, 4, mlp_dims=128)
        self.to_dec = nn.Linear(dim, dec_dim)
        self.mask_token = mx.zeros((1, 1, dec_dim))
        self.dec_pos = mx.random.normal((NPATCH, dec_dim)) * 0.02
        self.decoder = nn.TransformerEncoder(1, dec_dim, 4, mlp_dims=96)
        self.head = nn.Linear(dec_dim, P * P)

    def encode(self, patches, keep_idx=None):
        h = self.embed(patches) + self.pos
        if keep_idx is not None:
            h = mx.take_along_axis(h, keep_idx[..., None], axis=1)
        return self.encoder(h, None)

    def __call__(self, patches, shuffle):
        b = patches.shape[0]
        restore = mx.argsort(shuffle, axis=1)
        z = self.to_dec(self.encode(patches, shuffle[:, :KEEP]))
        fill = mx.broadcast_to(self.mask_token, (b, NPATCH - KEEP, z.shape[-1]))
        seq = mx.concatenate([z, fill], axis=1)
        seq = mx.take_along_axis(seq, restore[..., None], axis=1) + self.dec_pos
        return self.head(self.decoder(seq, None))


def norm_targets(patches):
    mu = patches.mean(axis=-1, keepdims=True)
    sd = mx.sqrt(patches.var(axis=-1, keepdims=True) + 1e-6)
    return (patches - mu) / sd


def loss_fn(model, patches, shuffle):
    pred = model(patches, shuffle)
    per_patch = ((pred - norm_targets(patches)) ** 2).mean(axis=-1)
    hidden = mx.argsort(shuffle, axis=1) >= KEEP
    return (per_patch * hidden).sum() / hidden.sum()


def lr_at(step, peak=1.5e-3, warm=30, total=240):
    if step < warm:
        return peak * step / warm
    t = (step - warm) / (total - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def probe(feats_tr, y_tr, feats_te, y_te, lam=1e-1):
    mu, sd = feats_tr.mean(0), feats_tr.std(0) + 1e-6
    a, b = (feats_tr - mu) / sd, (feats_te - mu) / sd
    a = np.hstack([a, np.ones((len(a), 1))])
    b = np.hstack([b, np.ones((len(b), 1))])
    onehot = np.eye(4)[y_tr]
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ onehot)
    return float(((b @ w).argmax(1) == y_te).mean())


def features(model, imgs):
    out = []
    for s in range(0, len(imgs), 256):
        h = model.encode(patchify(mx.array(imgs[s:s + 256])))
        out.append(np.array(h.mean(axis=1)))
    return np.concatenate(out)


def run_stage(model, opt, imgs, start, stop, total, bs=32):
    step_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(start)
    tic = time.perf_counter()
    for step in range(start, stop):
        opt.learning_rate = lr_at(step, total=total)
        idx = rng.integers(0, len(imgs), size=bs)
        patches = patchify(mx.array(imgs[idx]))
        shuffle = mx.argsort(mx.random.uniform(shape=(bs, NPATCH)), axis=1)
        loss, grads = step_fn(model, patches, shuffle)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in (0, 1) or (step + 1) % 40 == 0:
            print(f"step {step:4d}  lr {float(opt.learning_rate):.3e}  masked-patch mse {loss.item():.4f}"
                  f"  ({time.perf_counter() - tic:.1f}s)")


def main():
    mx.random.seed(7)
    tr_x, tr_y = make_set(3000, 1)
    te_x, te_y = make_set(1000, 2)
    total, switch = 240, 140
    print(f"swatches: train {len(tr_x)}, probe test {len(te_x)}; mask ratio {1 - KEEP / NPATCH:.2f}")
    print("reference: predicting the patch mean gives masked mse 1.0000")

    model = MAE()
    fresh = MAE()
    mx.eval(model.parameters(), fresh.parameters())
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.05)

    print(f"-- stage 1: steps 0..{switch - 1} (warm-up from lr 0)")
    run_stage(model, opt, tr_x, 0, switch, total)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {switch}")
    del model, opt

    model = MAE()
    model.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.05)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    print(f"-- stage 2: resumed, steps {switch}..{total - 1} (cosine tail)")
    run_stage(model, opt, tr_x, switch, total, total)

    pix = probe(tr_x.reshape(len(tr_x), -1), tr_y, te_x.reshape(len(te_x), -1), te_y)
    rnd = probe(features(fresh, tr_x), tr_y, features(fresh, te_x), te_y)
    mae = probe(features(model, tr_x), tr_y, features(model, te_x), te_y)
    print(f"linear probe accuracy  raw pixels {pix:.3f}  random encoder {rnd:.3f}  pre-trained encoder {mae:.3f}"
          f"  (chance 0.250)")


if __name__ == "__main__":
    main()
