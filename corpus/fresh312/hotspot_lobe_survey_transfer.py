"""Radio-survey morphology transfer.

A small conv backbone is first trained on a large, coarse catalogue of an
older survey (compact / straight double / bent).  Its weights are exported,
loaded into a new model with a fresh 4-way head (compact / FRI / FRII / bent)
and fine-tuned on a small hand-labelled set from the new survey:

  stage A  coarse catalogue pretraining (6000 cut-outs)
  stage B  backbone frozen, new head only, lr warmup from exactly 0
  resume   stage-B checkpoint written, reloaded into a fresh process-like model
  stage C  last conv block unfrozen, fresh optimizer, cosine decay, quiet
  scratch  same net trained from random init on the same 240 labels
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SIDE = 16
rng = np.random.default_rng(7)
mx.random.seed(7)

yy, xx = np.meshgrid(np.linspace(-1, 1, SIDE), np.linspace(-1, 1, SIDE), indexing="ij")


def blob(cx, cy, sig, amp):
    return amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sig * sig))


def render(kind):
    th = rng.uniform(0, 2 * np.pi)
    u = np.array([np.cos(th), np.sin(th)])
    img = np.zeros((SIDE, SIDE))
    if kind == 0:  # compact
        img += blob(*(rng.normal(0, 0.05, 2)), rng.uniform(0.12, 0.2), 1.0)
    elif kind == 1:  # FRI, edge-darkened
        d = rng.uniform(0.3, 0.45)
        img += blob(0, 0, 0.1, 1.0)
        for s in (1, -1):
            img += blob(*(s * 0.15 * u), 0.1, 0.8)
            img += blob(*(s * d * u), 0.18, 0.6)
    elif kind == 2:  # FRII, edge-brightened
        d = rng.uniform(0.6, 0.8)
        img += blob(0, 0, 0.08, 0.3)
        for s in (1, -1):
            img += blob(*(s * d * u), 0.08, 1.0)
            img += blob(*(s * 0.45 * u), 0.15, 0.3)
    else:  # bent tail
        bend = rng.uniform(np.pi / 3.5, np.pi / 1.8)
        d = rng.uniform(0.45, 0.65)
        img += blob(0, 0, 0.1, 0.8)
        for a in (th, th + np.pi - bend):
            img += blob(d * np.cos(a), d * np.sin(a), 0.13, 0.8)
    img *= rng.uniform(0.6, 1.4)
    img += rng.normal(0, 0.15, img.shape)
    return img.astype(np.float32)


def make(n, kinds):
    y = rng.choice(kinds, size=n)
    x = np.stack([render(k) for k in y])[..., None]
    return x, y


# old survey: FRI and FRII are both catalogued as "straight double"
coarse_of = np.array([0, 1, 1, 2])
xa, ka = make(6000, [0, 1, 2, 3])
ya = coarse_of[ka]

# new survey: small labelled set (60 per class) with 8% labelling slips
yb = np.repeat(np.arange(4), 60)
rng.shuffle(yb)
xb = np.stack([render(k) for k in yb])[..., None]
slip = rng.random(len(yb)) < 0.08
yb_noisy = np.where(slip, rng.integers(0, 4, len(yb)), yb)
xt, yt = make(1000, [0, 1, 2, 3])

xa, ya = mx.array(xa), mx.array(ya)
xb, yb_noisy = mx.array(xb), mx.array(yb_noisy)
xt, yt = mx.array(xt), mx.array(yt)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1)

    def __call__(self, x):
        x = nn.gelu(self.c1(x))
        x = nn.gelu(self.c2(x))
        x = nn.gelu(self.c3(x))
        return mx.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)


class SourceNet(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(64, n_out)

    def __call__(self, x):
        return self.head(self.backbone(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (model(x).argmax(axis=-1) == y).astype(mx.float32).mean().item()


def fit(model, opt, x, y, steps, batch, log_every, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = x.shape[0]
    for step in range(steps + 1):
        idx = mx.array(rng.integers(0, n, batch))
        loss, grads = step_fn(model, x[idx], y[idx])
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if log_every and step % log_every == 0:
            print(f"[{tag}] step {step:4d}  lr {lr_now:.2e}  loss {loss.item():.4f}")
    return loss.item()


t0 = time.time()
print(f"old survey: {xa.shape[0]} cut-outs, new survey labelled: {xb.shape[0]}, test: {xt.shape[0]}")
print(f"labelling slips in new set: {int(slip.sum())}/{len(slip)}")

# ---- stage A: coarse pretraining -------------------------------------------
old = SourceNet(3)
fit(old, optim.Adam(learning_rate=2e-3), xa, ya, 250, 32, 50, "A")
print(f"[A] coarse test acc {accuracy(old, xt, mx.array(coarse_of)[yt]):.3f}")

tmp = tempfile.mkdtemp()
bb_path = os.path.join(tmp, "backbone.safetensors")
mx.save_safetensors(bb_path, {f"backbone.{k}": v for k, v in tree_flatten(old.backbone.parameters())})

# ---- stage B: new head, frozen backbone, warmup from 0 ---------------------
net = SourceNet(4)
net.load_weights(bb_path, strict=False)
net.backbone.freeze()
n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
print(f"[B] trainable parameters with frozen backbone: {n_train}")
print(f"[B] baselines: chance 0.250, majority {np.bincount(np.array(yt)).max() / len(yt):.3f}")
warm = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 80), lambda s: 3e-3], [80])
fit(net, optim.Adam(learning_rate=warm), xb, yb_noisy, 300, 32, 50, "B")
acc_b = accuracy(net, xt, yt)
print(f"[B] test acc (linear probe on transferred features) {acc_b:.3f}")

ck_path = os.path.join(tmp, "stageB.safetensors")
net.save_weights(ck_path)

# ---- resume ---------------------------------------------------------------
net = SourceNet(4)
net.load_weights(ck_path)
acc_r = accuracy(net, xt, yt)
print(f"[resume] reloaded stage-B checkpoint, test acc {acc_r:.3f} (was {acc_b:.3f})")

# ---- stage C: unfreeze last block, fresh optimizer, quiet ------------------
net.freeze()
net.backbone.c3.unfreeze()
net.head.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
print(f"[C] trainable parameters with c3+head open: {n_train}; training quietly")
last = fit(net, optim.Adam(learning_rate=optim.cosine_decay(6e-4, 200, 3e-5)), xb, yb_noisy, 200, 32, 0, "C")
acc_c = accuracy(net, xt, yt)
print(f"[C] done, last batch loss {last:.4f}, test acc {acc_c:.3f}")

# ---- scratch baseline -----------------------------------------------------
scratch = SourceNet(4)
fit(scratch, optim.Adam(learning_rate=3e-3), xb, yb_noisy, 300, 32, 150, "scratch")
acc_s = accuracy(scratch, xt, yt)

print("summary")
print(f"  from scratch on 240 labels   {acc_s:.3f}")
print(f"  transfer, head only          {acc_b:.3f}")
print(f"  transfer, c3 + head          {acc_c:.3f}")
print(f"  elapsed {time.time() - t0:.1f}s")
