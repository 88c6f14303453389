"""Stained-glass workshop: lead-came joint type from 12x12 greyscale patches.

A small conv backbone exported from PyTorch (NCHW data, Conv2d weights (out, in, kh, kw),
Sequential names features.0 / features.3) is stood in for by a seeded numpy state dict.
It is ported to MLX (NHWC, weights (out, kh, kw, in)), checked against a numpy NCHW
cross-correlation, and then adapted in two stages: a linear probe with the backbone frozen,
then full fine-tuning at a lower rate. Logging is sparse on purpose.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(0)
rng = np.random.default_rng(11)
CLASSES = ["butt", "lap", "tee", "cross", "none"]


def torch_backbone_state(rng):
    def kaiming(o, i, k):
        return (rng.normal(0, np.sqrt(2.0 / (i * k * k)), (o, i, k, k))).astype(np.float32)
    return {
        "features.0.weight": kaiming(8, 1, 3),
        "features.0.bias": np.zeros(8, np.float32),
        "features.3.weight": kaiming(16, 8, 3),
        "features.3.bias": np.zeros(16, np.float32),
    }


def np_conv_nchw(x, w, b):
    """'same' cross-correlation, stride 1, NCHW in / OIHW weights, like torch Conv2d(padding=1)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd), np.float32)
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out + b[None, :, None, None]


def np_backbone(sd, x):
    h = np.maximum(np_conv_nchw(x, sd["features.0.weight"], sd["features.0.bias"]), 0)
    h = h.reshape(h.shape[0], h.shape[1], 6, 2, 6, 2).max(axis=(3, 5))
    h = np.maximum(np_conv_nchw(h, sd["features.3.weight"], sd["features.3.bias"]), 0)
    return h.mean(axis=(2, 3))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        )

    def __call__(self, x):
        return self.features(x).mean(axis=(1, 2))


class JointClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.classifier = nn.Linear(16, len(CLASSES))

    def __call__(self, x):
        return self.classifier(self.backbone(x))


def port(sd):
    out = []
    for k, v in sd.items():
        name = k.replace("features.", "backbone.features.layers.")
        if v.ndim == 4:
            v = v.transpose(0, 2, 3, 1)
        out.append((name, mx.array(v)))
    return out


def draw(label, rng):
    img = rng.normal(0.0, 0.25, (12, 12)).astype(np.float32)
    r, c = rng.integers(3, 9, 2)
    w = 2
    if label == 0:      # butt: two bars meeting end to end with a gap
        img[r:r + w, 0:c - 1] += 1.0
        img[r:r + w, c + 1:] += 1.0
    elif label == 1:    # lap: offset overlapping bars
        img[r:r + w, 0:c + 2] += 1.0
        img[r + 2:r + 2 + w, c - 2:] += 1.0
    elif label == 2:    # tee
        img[r:r + w, :] += 1.0
        img[r:, c:c + w] += 1.0
    elif label == 3:    # cross
        img[r:r + w, :] += 1.0
        img[:, c:c + w] += 1.0
    return np.clip(img, -1, 2)


def make_split(n):
    y = rng.integers(0, len(CLASSES), n)
    x = np.stack([draw(int(l), rng) for l in y])[:, None, :, :]   # NCHW, as a torch loader gives
    return x, y.astype(np.int32)


sd = torch_backbone_state(rng)
x_tr, y_tr = make_split(3000)
x_va, y_va = make_split(800)
to_nhwc = lambda a: mx.array(a.transpose(0, 2, 3, 1))
Xtr, Xva = to_nhwc(x_tr), to_nhwc(x_va)
Ytr, Yva = mx.array(y_tr), mx.array(y_va)

model = JointClassifier()
model.load_weights(port(sd), strict=False)        # classifier head is new for this task
mx.eval(model.parameters())
ref = np_backbone(sd, x_va[:128])
got = np.array(model.backbone(Xva[:128]))
print(f"backbone port check: max |diff| vs numpy NCHW = {np.abs(ref - got).max():.2e}")

majority = np.bincount(y_va).max() / len(y_va)


def accuracy(m):
    return float(mx.mean(mx.argmax(m(Xva), axis=1) == Yva))


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


print(f"baselines: majority class {majority:.3f}, chance {1 / len(CLASSES):.3f}, "
      f"untrained head {accuracy(model):.3f}")


def stage(name, model, opt, steps, log_every, seed):
    step_fn = nn.value_and_grad(model, loss_fn)
    drng = np.random.default_rng(seed)
    for s in range(steps):
        idx = mx.array(drng.integers(0, len(y_tr), 64))
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if (s + 1) % log_every == 0:
            print(f"[{name}] step {s + 1:4d}  loss {float(loss):.4f}  val acc {accuracy(model):.3f}")


t0 = time.time()
conv0 = np.array(model.backbone.features.layers[0].weight)

model.backbone.freeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 1: linear probe, backbone frozen ({n_train} trainable params)")
stage("probe", model, optim.Adam(learning_rate=1e-2), 300, 150, 101)
drift = float(np.abs(np.array(model.backbone.features.layers[0].weight) - conv0).max())
print(f"stage 1 done: first conv max change {drift:.1e} (frozen), val acc {accuracy(model):.3f}")

model.backbone.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 2: full fine-tune ({n_train} trainable params)")
stage("full", model, optim.Adam(learning_rate=2e-3), 600, 200, 202)
drift = float(np.abs(np.array(model.backbone.features.layers[0].weight) - conv0).max())
print(f"stage 2 done: first conv max change {drift:.3f}, val acc {accuracy(model):.3f} "
      f"(majority {majority:.3f}) in {time.time() - t0:.1f}s")
