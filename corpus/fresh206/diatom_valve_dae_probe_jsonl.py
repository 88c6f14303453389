"""Diatom valve genera from synthetic 14x14 light-microscope crops.

Stage A  pretrain a conv denoising autoencoder (classifier head frozen on purpose).
Stage B  linear probe: encoder + decoder frozen on purpose, only the head learns.
Stage C  joint fine-tune of everything on harder (noisier, dimmer) slides.
Each stage has its own optimizer and its own step counter.  One JSON object per line.
"""
import json
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

S = 14
GENERA = ["Cyclotella", "Coscinodiscus", "Navicula", "Fragilaria"]


def valve(rng, g):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    cy, cx = (S - 1) / 2 + rng.normal(0, 0.6, 2)
    th = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
    v = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
    sc = rng.uniform(0.85, 1.15)
    if g in (0, 1):                      # centric, round
        r = np.sqrt(u ** 2 + v ** 2) / sc
        body = (r < 5.6).astype(np.float32)
        if g == 0:   # radial striae, plain centre
            ang = np.arctan2(v, u)
            tex = 0.5 + 0.5 * np.cos(10 * ang)
            tex = np.where(r < 2.2, 0.9, tex)
        else:        # areolae dots on a grid
            tex = (0.5 + 0.5 * np.cos(2.2 * u)) * (0.5 + 0.5 * np.cos(2.2 * v))
    else:                                # pennate, elongated
        half_w = 2.6 if g == 2 else 1.5
        body = ((u / (6.3 * sc)) ** 2 + (v / half_w) ** 2 < 1).astype(np.float32)
        tex = 0.5 + 0.5 * np.cos(2.4 * u)
        if g == 2:   # raphe line down the middle
            tex = np.where(np.abs(v) < 0.5, 0.1, tex)
    img = body * (0.35 + 0.65 * tex)
    return img.astype(np.float32)


def make_set(n, seed, noise, dim=1.0):
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, 4, n)
    clean = np.stack([valve(rng, int(y)) for y in ys]) * dim
    noisy = clean + rng.normal(0, noise, clean.shape).astype(np.float32)
    return noisy[..., None], clean[..., None], ys.astype(np.int32)


class Diatom(nn.Module):
    def __init__(self, latent=32):
        super().__init__()
        self.enc_c1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)     # 7x7
        self.enc_c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)    # 4x4
        self.enc_fc = nn.Linear(16 * 16, latent)
        self.dec_fc1 = nn.Linear(latent, 96)
        self.dec_fc2 = nn.Linear(96, S * S)
        self.head = nn.Linear(latent, 4)

    def encode(self, x):
        h = nn.gelu(self.enc_c1(x))
        h = nn.gelu(self.enc_c2(h))
        return nn.gelu(self.enc_fc(h.reshape(h.shape[0], -1)))

    def decode(self, z):
        return self.dec_fc2(nn.gelu(self.dec_fc1(z))).reshape(-1, S, S, 1)

    def __call__(self, x):
        z = self.encode(x)
        return self.decode(z), self.head(z)


def recon_loss(model, x, clean, y):
    rec, _ = model(x)
    return mx.mean((rec - clean) ** 2)


def probe_loss(model, x, clean, y):
    _, logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def joint_loss(model, x, clean, y):
    rec, logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean") + 2.0 * mx.mean((rec - clean) ** 2)


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def measure(model, x, clean, y):
    rec, logits = model(mx.array(x))
    mse = float(mx.mean((rec - mx.array(clean)) ** 2))
    acc = float((mx.argmax(logits, 1) == mx.array(y)).mean())
    ce = float(nn.losses.cross_entropy(logits, mx.array(y), reduction="mean"))
    return mse, ce, acc


def audit(stage, model, fn, x, c, y):
    _, g = nn.value_and_grad(model, fn)(model, mx.array(x[:64]), mx.array(c[:64]), mx.array(y[:64]))
    flat = tree_flatten(g)
    zero = [k for k, v in flat if float(mx.abs(v).sum()) == 0.0]
    emit(event="grad_audit", stage=stage, trainable_tensors=len(flat), zero_grad=zero,
         grad_norm=round(math.sqrt(sum(float((v * v).sum()) for _, v in flat)), 4))


def run_stage(stage, model, fn, opt, data, val, epochs, bs=48, seed=0):
    x, c, y = data
    vg = nn.value_and_grad(model, fn)
    audit(stage, model, fn, x, c, y)
    rng = np.random.default_rng(seed)
    step = 0
    for ep in range(epochs):
        perm = rng.permutation(len(x))
        t0 = time.perf_counter()
        tot, nb = 0.0, 0
        for i in range(0, len(x) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, mx.array(x[idx]), mx.array(c[idx]), mx.array(y[idx]))
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss)
            nb += 1
            step += 1
        mse, ce, acc = measure(model, *val)
        emit(stage=stage, step=step, epoch=ep + 1, loss=round(tot / nb, 5),
             val_mse=round(mse, 5), val_ce=round(ce, 4), val_top1=round(acc, 4),
             secs=round(time.perf_counter() - t0, 2))


def main():
    mx.random.seed(3)
    train = make_set(1920, 11, noise=0.25)
    val = make_set(480, 12, noise=0.25)
    hard_train = make_set(1920, 13, noise=0.5, dim=0.7)
    hard_val = make_set(480, 14, noise=0.5, dim=0.7)
    emit(event="data", shape=[S, S, 1], genera=GENERA, train=len(train[0]), val=len(val[0]),
         clean_pixel_var=round(float(np.var(val[1])), 5), chance_top1=0.25)

    model = Diatom()
    n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
    emit(event="model", params=int(n_par))

    # Stage A: denoising autoencoder, head frozen on purpose
    model.freeze(keys=["weight", "bias"], recurse=True)
    for name in ["enc_c1", "enc_c2", "enc_fc", "dec_fc1", "dec_fc2"]:
        getattr(model, name).unfreeze()
    run_stage("A_dae", model, recon_loss, optim.Adamax(learning_rate=3e-3), train, val, epochs=6, seed=1)

    # Stage B: linear probe on a frozen encoder
    model.freeze()
    model.head.unfreeze()
    run_stage("B_probe", model, probe_loss, optim.SGD(learning_rate=0.2, momentum=0.9), train, val,
              epochs=4, seed=2)

    # Stage C: everything trainable, harder slides
    model.unfreeze()
    mse0, ce0, acc0 = measure(model, *hard_val)
    emit(event="harder_slides", val_mse=round(mse0, 5), val_ce=round(ce0, 4), val_top1=round(acc0, 4))
    run_stage("C_joint", model, joint_loss, optim.Adamax(learning_rate=1.5e-3), hard_train, hard_val,
              epochs=5, seed=3)

    mse, ce, acc = measure(model, *hard_val)
    emit(event="summary", hard_val_top1=round(acc, 4), hard_val_mse=round(mse, 5),
         hard_val_ce=round(ce, 4), reference_top1_chance=0.25,
         reference_mse_predict_mean=round(float(np.var(hard_val[1])), 5))


if __name__ == "__main__":
    main()
