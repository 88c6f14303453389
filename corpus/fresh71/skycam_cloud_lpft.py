"""Cloud-type classification from an all-sky camera, moved to a new camera.

Features: a 24-bin colour/brightness histogram of the sky image plus 4 texture
statistics.  Five classes: clear, cumulus, stratus, cirrus, cumulonimbus.

The feature extractor is first trained on the old camera (lots of labels,
no output).  On the new camera (different white balance and gain, 1200 labels)
we use LP-FT: for the first 250 steps only the new head learns while the
backbone's learning rate is exactly 0 (linear probing), then the backbone's
learning rate warms up from 0 and the whole network is fine-tuned.
Reports are JSON lines.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["clear", "cumulus", "stratus", "cirrus", "cb"]
PROTOS = np.random.default_rng(7).normal(0.0, 1.0, (5, 28))


def make_sky(n, rng, gain=1.0, tint=None):
    y = rng.integers(0, 5, n)
    x = PROTOS[y] + rng.normal(0.0, 1.6, (n, 28))
    x[:, :24] = x[:, :24] * gain + 0.5 * np.roll(x[:, :24], 1, axis=1) * (gain - 1.0)
    if tint is not None:
        x[:, :24] += tint
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(28, 64)
        self.b = nn.Linear(64, 32)

    def __call__(self, x):
        return nn.gelu(self.b(nn.gelu(self.a(x))))


class SkyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(32, 5)

    def __call__(self, x):
        return self.head(self.backbone(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    mx.eval(ce, acc)
    return float(ce), float(acc)


def emit(**kw):
    print(json.dumps(kw, sort_keys=False))


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    mx.random.seed(3)

    # ---- old camera: source-domain training (silent) ----
    xs, ys = make_sky(20000, rng)
    src = SkyNet()
    opt_src = optim.Adam(learning_rate=2e-3)
    g_src = nn.value_and_grad(src, loss_fn)
    for epoch in range(4):
        perm = rng.permutation(xs.shape[0])
        for i in range(0, len(perm) - 127, 128):
            idx = mx.array(perm[i:i + 128])
            l, g = g_src(src, xs[idx], ys[idx])
            opt_src.update(src, g)
            mx.eval(src.parameters(), opt_src.state, l)

    # ---- new camera ----
    tint = rng.normal(0.0, 1.0, 24)
    xt, yt = make_sky(1200, rng, gain=1.35, tint=tint)
    xv, yv = make_sky(3000, rng, gain=1.35, tint=tint)
    src_ce, src_acc = accuracy(src, *make_sky(3000, rng))
    emit(event="source_done", src_val_acc=round(src_acc, 4), secs=round(time.time() - t0, 2))

    model = SkyNet()
    model.backbone.update(src.backbone.parameters())  # reuse the old camera's extractor
    mx.eval(model.parameters())
    ce0, acc0 = accuracy(model, xv, yv)
    emit(event="target_untrained_head", val_ce=round(ce0, 4), val_acc=round(acc0, 4),
         chance_ce=round(float(np.log(5)), 4))

    probe_steps, warm = 250, 100

    def backbone_lr(step):
        # 0 during the probing phase, then a linear warm-up to 1.5e-4
        ramp = mx.clip((mx.array(step).astype(mx.float32) - probe_steps) / warm, 0.0, 1.0)
        return 1.5e-4 * ramp

    opt = optim.MultiOptimizer(
        [optim.AdamW(learning_rate=backbone_lr, weight_decay=0.0),
         optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)],
        [lambda path, _: path.startswith("backbone")],
    )
    grad_fn = nn.value_and_grad(model, loss_fn)
    bb_start = {k: np.array(v) for k, v in tree_flatten(model.backbone.parameters())}

    total, bs, seen = 600, 32, []
    for step in range(1, total + 1):
        idx = mx.array(rng.integers(0, xt.shape[0], bs))
        loss, grads = grad_fn(model, xt[idx], yt[idx])
        if step == 1:
            flat = tree_flatten(grads)
            emit(event="grad_audit", leaves=len(flat),
                 zero_leaves=[k for k, g in flat if float(mx.abs(g).max()) == 0.0],
                 loss=round(float(loss), 4))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        seen.append(float(loss))
        if step in (1, 50) or step % 100 == 0:
            vce, vacc = accuracy(model, xv, yv)
            drift = max(float(np.abs(np.array(v) - bb_start[k]).max())
                        for k, v in tree_flatten(model.backbone.parameters()))
            emit(step=step, phase="probe" if step <= probe_steps else "finetune",
                 lr_backbone=float(backbone_lr(mx.array(step - 1))),
                 train_ce=round(float(np.mean(seen)), 4), val_ce=round(vce, 4),
                 val_acc=round(vacc, 4), backbone_max_change=round(drift, 5),
                 secs=round(time.time() - t0, 2))
            seen = []

    vce, vacc = accuracy(model, xv, yv)
    emit(event="done", val_ce=round(vce, 4), val_acc=round(vacc, 4),
         secs=round(time.time() - t0, 2))


if __name__ == "__main__":
    main()
