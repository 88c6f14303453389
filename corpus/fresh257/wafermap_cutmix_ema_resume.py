"""Wafer-map defect pattern classifier (5 patterns) on synthetic 16x16 probe maps.

Small BatchNorm CNN, AdamW, linear warmup from 0 then cosine decay, CutMix with
label smoothing (soft targets), an EMA copy of the weights evaluated beside the
raw weights, and a checkpoint written mid-run that a fresh process-like rebuild
resumes from.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

PATTERNS = ["none", "center", "edge_ring", "scratch", "donut"]
PRIORS = [0.40, 0.15, 0.15, 0.15, 0.15]
SIZE = 16

rng = np.random.default_rng(7)
yy, xx = np.mgrid[0:SIZE, 0:SIZE]
cy = cx = (SIZE - 1) / 2.0
rr = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
on_wafer = rr <= 7.6


def make_map(kind):
    fail_p = np.full((SIZE, SIZE), rng.uniform(0.02, 0.06))
    if kind == 1:
        r0 = rng.uniform(2.0, 3.5)
        fail_p = np.where(rr < r0, rng.uniform(0.6, 0.9), fail_p)
    elif kind == 2:
        fail_p = np.where(rr > rng.uniform(5.8, 6.6), rng.uniform(0.55, 0.85), fail_p)
    elif kind == 3:
        ang = rng.uniform(0, np.pi)
        off = rng.uniform(-3, 3)
        d = np.abs((xx - cx) * np.sin(ang) - (yy - cy) * np.cos(ang) - off)
        along = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
        half = rng.uniform(3, 6)
        fail_p = np.where((d < 0.8) & (np.abs(along) < half), 0.85, fail_p)
    elif kind == 4:
        a, b = rng.uniform(2.5, 3.5), rng.uniform(4.5, 5.5)
        fail_p = np.where((rr > a) & (rr < b), rng.uniform(0.5, 0.8), fail_p)
    fails = (rng.random((SIZE, SIZE)) < fail_p) & on_wafer
    img = np.where(on_wafer, np.where(fails, 1.0, 0.35), 0.0)
    return img.astype(np.float32)


def make_set(n):
    labels = rng.choice(len(PATTERNS), size=n, p=PRIORS)
    imgs = np.stack([make_map(k) for k in labels])[..., None]  # NHWC
    return imgs, labels.astype(np.int32)


x_train, y_train = make_set(1408)
x_val, y_val = make_set(500)
majority = float(np.mean(y_val == np.bincount(y_train).argmax()))


class WaferNet(nn.Module):
    def __init__(self, n_cls=5):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.b1 = nn.BatchNorm(12)
        self.c2 = nn.Conv2d(12, 24, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm(24)
        self.c3 = nn.Conv2d(24, 32, 3, stride=2, padding=1)
        self.b3 = nn.BatchNorm(32)
        self.head = nn.Linear(32, n_cls)

    def __call__(self, x):
        x = nn.relu(self.b1(self.c1(x)))
        x = nn.relu(self.b2(self.c2(x)))
        x = nn.relu(self.b3(self.c3(x)))
        return self.head(x.mean(axis=(1, 2)))


def soft_ce(model, x, q):
    logp = nn.log_softmax(model(x), axis=-1)
    return -(q * logp).sum(axis=-1).mean()


def cutmix_batch(xb, yb, smooth=0.1, p=0.5):
    n = xb.shape[0]
    onehot = np.eye(len(PATTERNS), dtype=np.float32)[yb]
    xb = xb.copy()
    q = onehot.copy()
    if rng.random() < p:
        perm = rng.permutation(n)
        lam = rng.beta(1.0, 1.0)
        h = int(round(SIZE * np.sqrt(1 - lam)))
        w = h
        if h > 0:
            top, left = rng.integers(0, SIZE - h + 1), rng.integers(0, SIZE - w + 1)
            xb[:, top:top + h, left:left + w] = xb[perm, top:top + h, left:left + w]
            lam = 1.0 - (h * w) / (SIZE * SIZE)
            q = lam * onehot + (1 - lam) * onehot[perm]
    q = q * (1 - smooth) + smooth / len(PATTERNS)
    return xb, q


def evaluate(model):
    model.eval()
    logits = model(mx.array(x_val))
    model.train()
    pred = np.array(mx.argmax(logits, axis=-1))
    ce = nn.losses.cross_entropy(logits, mx.array(y_val), reduction="mean")
    return float(np.mean(pred == y_val)), ce.item()


BATCH, EPOCHS, WARM = 64, 8, 30
steps_per_epoch = len(x_train) // BATCH
total = EPOCHS * steps_per_epoch
PEAK = 3e-3
EMA_DECAY = 0.95


def build():
    mx.random.seed(11)
    model = WaferNet()
    ema = WaferNet()
    ema.update(tree_map(lambda p: p, model.parameters()))
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, total - WARM, 1e-5)],
        [WARM],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, ema, opt


model, ema, opt = build()
mx.eval(model.parameters(), ema.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"wafer maps: train {len(x_train)}  val {len(x_val)}  classes {PATTERNS}")
print(f"params {n_params}  steps {total}  warmup {WARM} (lr starts at 0.0)")
print(f"majority-class baseline on val: {majority:.3f}")

ckpt_tmp = tempfile.TemporaryDirectory()
ckpt_dir = ckpt_tmp.name
t0 = time.time()
step = 0
for epoch in range(EPOCHS):
    if epoch == EPOCHS // 2:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        ema.save_weights(os.path.join(ckpt_dir, "ema.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {step} -> {ckpt_dir}")
        del model, ema, opt
        model, ema, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        ema.load_weights(os.path.join(ckpt_dir, "ema.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(model.parameters(), ema.parameters(), opt.state)
        print(f"resumed: optimizer step {opt.state['step'].item()}  lr {opt.learning_rate.item():.2e}")
    model.train()
    loss_and_grad = nn.value_and_grad(model, soft_ce)
    order = rng.permutation(len(x_train))
    run = []
    for i in range(steps_per_epoch):
        idx = order[i * BATCH:(i + 1) * BATCH]
        xb, q = cutmix_batch(x_train[idx], y_train[idx])
        loss, grads = loss_and_grad(model, mx.array(xb), mx.array(q))
        opt.update(model, grads)
        ema.update(tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                            ema.parameters(), model.parameters()))
        mx.eval(model.parameters(), opt.state, ema.parameters(), loss)
        run.append(loss.item())
        step += 1
        if step % 20 == 0 and epoch < EPOCHS // 2:
            print(f"  step {step:4d}  soft-target loss {np.mean(run[-20:]):.4f}  lr {opt.learning_rate.item():.2e}")
    acc, vce = evaluate(model)
    eacc, ece = evaluate(ema)
    print(f"epoch {epoch + 1:2d}  train {np.mean(run):.4f}  val acc {acc:.3f} (ema {eacc:.3f}, "
          f"majority {majority:.3f})  val ce {vce:.4f} (ema {ece:.4f})")

acc, vce = evaluate(model)
eacc, ece = evaluate(ema)
print(f"final: val acc {acc:.3f}  ema val acc {eacc:.3f}  majority {majority:.3f}  "
      f"time {time.time() - t0:.1f}s")
ckpt_tmp.cleanup()
