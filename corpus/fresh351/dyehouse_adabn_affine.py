"""Dye house colour matching: shade family (6 classes) of a dyed cotton swatch
from 16-band reflectance. The classifier is trained on the lab
spectrophotometer; the inline camera on the finishing range sees the same
cloth with a band-wise gain/offset and extra noise.

Transfer recipe
  stage 0  source training on 6000 lab readings (Adam)
  stage 1  AdaBN: re-estimate BatchNorm running statistics on 4000 unlabelled
           camera readings (forward passes only, no weight changes)
  stage 2  freeze everything except BatchNorm gamma/beta and the head; lr warmup
           from exactly 0 over 100 steps, then cosine decay; 300 labelled camera
           readings
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
BANDS, SHADES = 16, 6
wl = np.linspace(0, 1, BANDS)
centres = np.array([0.30, 0.38, 0.46, 0.54, 0.62, 0.70])


MIX = np.eye(BANDS)
for k in range(1, 4):
    MIX += (0.45 ** k) * (np.eye(BANDS, k=k) + np.eye(BANDS, k=-k))
MIX /= MIX.sum(axis=1, keepdims=True)


def swatches(n, gain, offset, noise, camera=False):
    y = rng.integers(0, SHADES, n)
    depth = rng.uniform(0.4, 1.0, n)[:, None]
    width = rng.uniform(0.12, 0.20, n)[:, None]
    refl = 0.85 - 0.6 * depth * np.exp(-((wl[None] - centres[y][:, None]) ** 2) / (2 * width ** 2))
    if camera:  # lens crosstalk between neighbouring bands + sensor gamma
        refl = (refl @ MIX.T) ** 1.8
    x = gain[None] * refl + offset[None] + rng.normal(0, noise, refl.shape)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


lab_gain, lab_off = np.ones(BANDS), np.zeros(BANDS)
cam_gain = 1.6 + 0.5 * np.sin(6 * wl)
cam_off = 0.35 - 0.3 * wl

x_src, y_src = swatches(6000, lab_gain, lab_off, 0.03)
x_cam_unl, _ = swatches(4000, cam_gain, cam_off, 0.05, camera=True)
x_cam_tr, y_cam_tr = swatches(300, cam_gain, cam_off, 0.05, camera=True)
x_cam_te, y_cam_te = swatches(2000, cam_gain, cam_off, 0.05, camera=True)


class ShadeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(BANDS, 64)
        self.bn1 = nn.BatchNorm(64)
        self.fc2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64)
        self.head = nn.Linear(64, SHADES)

    def __call__(self, x):
        x = nn.gelu(self.bn1(self.fc1(x)))
        x = nn.gelu(self.bn2(self.fc2(x)))
        return self.head(x)


def acc(m, x, y):
    m.eval()
    a = (mx.argmax(m(x), axis=1) == y).mean().item()
    m.train()
    return a


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def n_trainable(m):
    return sum(v.size for _, v in tree_flatten(m.trainable_parameters()))


t0 = time.time()
model = ShadeNet()
print(f"stage 0: lab spectrophotometer, {x_src.shape[0]} swatches, "
      f"trainable {n_trainable(model)}")
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_fn)
for ep in range(1, 9):
    perm = mx.array(rng.permutation(x_src.shape[0]))
    tot, nb = 0.0, 0
    for i in range(0, x_src.shape[0], 128):
        idx = perm[i:i + 128]
        l, g = step(model, x_src[idx], y_src[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += l.item(); nb += 1
    if ep % 2 == 0:
        print(f"  epoch {ep}  loss {tot / nb:.4f}  lab-test acc "
              f"{acc(model, *swatches(1000, lab_gain, lab_off, 0.03)):.3f}")

before = acc(model, x_cam_te, y_cam_te)
print(f"\ncamera test acc with lab model as-is: {before:.3f} (chance {1 / SHADES:.3f})")

# stage 1: AdaBN, forward passes only
w_before = model.fc1.weight.sum().item()
for bn in (model.bn1, model.bn2):
    bn.running_mean = mx.zeros_like(bn.running_mean)
    bn.running_var = mx.ones_like(bn.running_var)
model.train()
for rep in range(6):
    perm = mx.array(rng.permutation(x_cam_unl.shape[0]))
    for i in range(0, x_cam_unl.shape[0], 200):
        out = model(x_cam_unl[perm[i:i + 200]])
        mx.eval(out, model.bn1.running_mean, model.bn1.running_var,
                model.bn2.running_mean, model.bn2.running_var)
adabn = acc(model, x_cam_te, y_cam_te)
print(f"stage 1: AdaBN over {x_cam_unl.shape[0]} unlabelled camera readings x6, "
      f"fc1 weight sum unchanged {w_before:.4f} -> {model.fc1.weight.sum().item():.4f}")
print(f"camera test acc after AdaBN: {adabn:.3f}")

# stage 2: BatchNorm affine + head only
model.freeze()
for bn in (model.bn1, model.bn2):
    bn.unfreeze(keys=["weight", "bias"])
model.head.unfreeze()
print(f"\nstage 2: trainable {n_trainable(model)} of "
      f"{sum(v.size for _, v in tree_flatten(model.parameters()))} parameters")
WARM, TOTAL = 100, 500
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-5)],
    [WARM])
opt2 = optim.Adam(learning_rate=sched)
step2 = nn.value_and_grad(model, loss_fn)
run = 0.0
for it in range(TOTAL):
    idx = mx.array(rng.integers(0, x_cam_tr.shape[0], 32))
    l, g = step2(model, x_cam_tr[idx], y_cam_tr[idx])
    lr_now = opt2.learning_rate.item()
    opt2.update(model, g)
    mx.eval(model.parameters(), opt2.state)
    run = l.item() if it == 0 else 0.9 * run + 0.1 * l.item()
    if it in (0, 1, 50) or (it + 1) % 100 == 0:
        print(f"  step {it + 1:3d}  lr {lr_now:.2e}  loss(ema) {run:.4f}  "
              f"camera-test acc {acc(model, x_cam_te, y_cam_te):.3f}")

final = acc(model, x_cam_te, y_cam_te)
print(f"\ncamera test acc: lab model {before:.3f} | AdaBN {adabn:.3f} | "
      f"AdaBN + affine tuning {final:.3f}   ({time.time() - t0:.1f}s)")
