"""Sea-ice charting: 3-class per-pixel segmentation of synthetic SAR-like tiles.

classes: 0 open water, 1 thin ice, 2 thick floe; pixels under cloud have label -1 and
are ignored by both the loss and the metrics.

Stage 1 trains only the decoder on top of a randomly initialised, frozen encoder; stage 2
unfreezes everything. Learning rate warms up from exactly 0 in each stage. Midway through
stage 2 the run writes a checkpoint, builds a brand-new model + optimizer, restores both
and carries on.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

H = W = 16
NCLS = 3
rng = np.random.default_rng(7)


def make_tiles(n):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    imgs = np.zeros((n, H, W, 2), np.float32)
    labs = np.zeros((n, H, W), np.int32)
    for i in range(n):
        lab = np.zeros((H, W), np.int32)
        # a few floes (ellipses) of thick ice, each with a thin-ice rim
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(2, H - 2), rng.uniform(2, W - 2)
            ry, rx = rng.uniform(2.0, 4.5), rng.uniform(2.0, 4.5)
            d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
            lab[(d < 1.9) & (lab == 0)] = 1
            lab[d < 1.0] = 2
        # SAR backscatter channel + texture channel, speckle noise
        base = np.array([0.1, 0.55, 0.9], np.float32)[lab]
        tex = np.array([0.8, 0.3, 0.5], np.float32)[lab]
        img0 = base * rng.gamma(6.0, 1 / 6.0, size=(H, W))
        img1 = tex + 0.25 * rng.standard_normal((H, W))
        imgs[i, :, :, 0] = img0
        imgs[i, :, :, 1] = img1
        # cloud blob: unlabeled pixels
        if rng.random() < 0.5:
            cy, cx, r = rng.uniform(0, H), rng.uniform(0, W), rng.uniform(2, 4)
            cloud = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            lab[cloud] = -1
            imgs[i, cloud, 0] += 0.3
        labs[i] = lab
    return imgs, labs


def up2(x):
    b, h, w, c = x.shape
    x = mx.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, h * 2, w * 2, c)


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.n = nn.GroupNorm(4, cout, pytorch_compatible=True)

    def __call__(self, x):
        return nn.gelu(self.n(self.c2(nn.gelu(self.c1(x)))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = Block(2, 8)
        self.b2 = Block(8, 16)
        self.b3 = Block(16, 16)
        self.pool = nn.MaxPool2d(2, 2)

    def __call__(self, x):
        s1 = self.b1(x)
        s2 = self.b2(self.pool(s1))
        s3 = self.b3(self.pool(s2))
        return s1, s2, s3


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.d2 = Block(16 + 16, 16)
        self.d1 = Block(16 + 8, 8)
        self.head = nn.Conv2d(8, NCLS, 1)

    def __call__(self, feats):
        s1, s2, s3 = feats
        x = self.d2(mx.concatenate([up2(s3), s2], axis=-1))
        x = self.d1(mx.concatenate([up2(x), s1], axis=-1))
        return self.head(x)


class FloeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = Decoder()

    def __call__(self, x):
        return self.dec(self.enc(x))


def seg_loss(model, x, y):
    logits = model(x)
    valid = (y >= 0).astype(mx.float32)
    yc = mx.maximum(y, 0)
    ce = nn.losses.cross_entropy(logits, yc, reduction="none")
    ce = (ce * valid).sum() / mx.maximum(valid.sum(), 1.0)
    p = mx.softmax(logits, axis=-1) * valid[..., None]
    onehot = (yc[..., None] == mx.arange(NCLS)).astype(mx.float32) * valid[..., None]
    inter = (p * onehot).sum(axis=(0, 1, 2))
    denom = p.sum(axis=(0, 1, 2)) + onehot.sum(axis=(0, 1, 2))
    dice = ((2 * inter + 1.0) / (denom + 1.0)).mean()
    return ce + (1.0 - dice)


def confusion(model, x, y):
    pred = np.array(mx.argmax(model(x), axis=-1))
    yt = np.array(y)
    m = yt >= 0
    return np.bincount(NCLS * yt[m] + pred[m], minlength=NCLS * NCLS).reshape(NCLS, NCLS)


def iou_from(cm):
    tp = np.diag(cm).astype(np.float64)
    return tp / np.maximum(cm.sum(0) + cm.sum(1) - tp, 1)


def warm_cos(total, warm, peak):
    def lr(step):
        s = step.astype(mx.float32) if isinstance(step, mx.array) else mx.array(step, mx.float32)
        w = peak * s / warm
        c = 0.5 * peak * (1 + mx.cos(math.pi * mx.minimum(s - warm, total - warm) / (total - warm)))
        return mx.where(s < warm, w, c)
    return lr


def batches(X, Y, bs):
    idx = rng.permutation(len(X))
    for i in range(0, len(X) - bs + 1, bs):
        j = idx[i:i + bs]
        yield mx.array(X[j]), mx.array(Y[j])


def run_stage(name, model, opt, X, Y, Xv, Yv, epochs, bs, start_epoch=0, stop_after=None):
    vg = nn.value_and_grad(model, seg_loss)
    for ep in range(start_epoch, epochs):
        tot, nb = 0.0, 0
        for xb, yb in batches(X, Y, bs):
            loss, g = vg(model, xb, yb)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        cm = confusion(model, mx.array(Xv), mx.array(Yv))
        iou = iou_from(cm)
        lr = opt.learning_rate.item()
        print(f"[{name}] epoch {ep + 1:2d}/{epochs} lr {lr:.5f} train obj {tot / nb:.4f} "
              f"val IoU water {iou[0]:.3f} thin {iou[1]:.3f} floe {iou[2]:.3f} mIoU {iou.mean():.3f}")
        if stop_after is not None and ep + 1 == stop_after:
            return ep + 1
    return epochs


def main():
    t0 = time.time()
    mx.random.seed(3)
    X, Y = make_tiles(320)
    Xv, Yv = make_tiles(96)
    mu, sd = X.reshape(-1, 2).mean(0), X.reshape(-1, 2).std(0)
    X, Xv = (X - mu) / sd, (Xv - mu) / sd
    m = Yv >= 0
    counts = np.bincount(Yv[m], minlength=NCLS)
    maj = int(np.argmax(counts))
    cm_base = np.zeros((NCLS, NCLS), np.int64)
    cm_base[:, maj] = counts
    base = iou_from(cm_base)
    print(f"val pixels {m.sum()} (cloud-masked {(~m).sum()}), class share "
          + " ".join(f"{c / counts.sum():.2f}" for c in counts))
    print(f"baseline 'always class {maj}': mIoU {base.mean():.3f}")

    bs = 32
    steps_per_epoch = len(X) // bs
    model = FloeNet()
    mx.eval(model.parameters())

    # stage 1: encoder frozen, decoder only
    model.enc.freeze()
    ntrain = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage 1: {ntrain} trainable parameters (encoder frozen)")
    e1 = 3
    opt1 = optim.AdamW(learning_rate=warm_cos(e1 * steps_per_epoch, steps_per_epoch, 3e-3), weight_decay=1e-4)
    run_stage("decoder", model, opt1, X, Y, Xv, Yv, e1, bs)

    # stage 2: full network, fresh warmup from 0
    model.enc.unfreeze()
    ntrain = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage 2: {ntrain} trainable parameters")
    e2 = 8
    sched = warm_cos(e2 * steps_per_epoch, steps_per_epoch, 2e-3)
    opt2 = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    done = run_stage("full", model, opt2, X, Y, Xv, Yv, e2, bs, stop_after=4)

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "floe.safetensors")
    model.save_weights(wpath)
    opt_flat = dict(tree_flatten(opt2.state))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), opt_flat)
    print(f"checkpoint written after epoch {done} ({len(opt_flat)} optimizer arrays)")

    model = FloeNet()
    model.load_weights(wpath)
    opt2 = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt2.state)
    print(f"resumed at optimizer step {opt2.step.item()}")
    run_stage("full", model, opt2, X, Y, Xv, Yv, e2, bs, start_epoch=done)

    cm = confusion(model, mx.array(Xv), mx.array(Yv))
    iou = iou_from(cm)
    acc = np.trace(cm) / cm.sum()
    print(f"final val pixel acc {acc:.3f} mIoU {iou.mean():.3f} (baseline {base.mean():.3f})")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
