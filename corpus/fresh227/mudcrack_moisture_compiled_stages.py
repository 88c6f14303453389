"""Soil physics: estimate moisture loss (%) of a drying clay pan from a small
top-down image of its desiccation-crack network (crack spacing shrinks as the
pan loses more water).

Two-stage curriculum: stage "lab" = clean images, stage "field" = noisy,
randomly rotated images (harder, so the loss jumps up at the switch).
Compiled train step (model + optimizer + BatchNorm running stats as state),
SGD with Nesterov momentum, progress through the logging module.
"""
import logging
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
log = logging.getLogger("mudcrack")

S = 16
rng = np.random.default_rng(5)


def make(n, noise, rotate):
    m = rng.uniform(10.0, 60.0, n)  # moisture loss in %
    spacing = 12.0 / (1.0 + m / 20.0)  # px between cracks
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float64)
    imgs = np.empty((n, S, S, 1), np.float32)
    for i in range(n):
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        jit = rng.normal(0, 0.3, (S, S))
        c = np.maximum(np.cos(2 * np.pi * (xx + jit) / spacing[i] + p1),
                       np.cos(2 * np.pi * (yy + jit) / spacing[i] * 1.1 + p2))
        img = (c > 0.8).astype(np.float64) + rng.normal(0, noise, (S, S))
        if rotate:
            img = np.rot90(img, rng.integers(4))
        imgs[i, :, :, 0] = img
    return imgs, ((m - 35.0) / 15.0).astype(np.float32)[:, None]


class CrackNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm(12)
        self.pool = nn.MaxPool2d(2, 2)
        self.c2 = nn.Conv2d(12, 24, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm(24)
        self.fc = nn.Linear(24, 1)

    def __call__(self, x):
        h = self.pool(nn.relu(self.bn1(self.c1(x))))
        h = nn.relu(self.bn2(self.c2(h)))
        return self.fc(h.mean(axis=(1, 2)))


mx.random.seed(3)
model = CrackNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
    opt.update(model, grads)
    return loss


def mae_pct(x, y):
    model.eval()
    pred = model(x)
    model.train()
    return (mx.abs(pred - y).mean() * 15.0).item()


BS = 48
for stage, (noise, rot, n_steps) in enumerate([(0.05, False, 150), (0.35, True, 200)], start=1):
    name = "lab" if stage == 1 else "field"
    Xtr, Ytr = make(2048, noise, rot)
    Xva, Yva = make(512, noise, rot)
    Xtr, Ytr, Xva, Yva = map(mx.array, (Xtr, Ytr, Xva, Yva))
    base = (mx.abs(Yva - Ytr.mean()).mean() * 15.0).item()
    log.info("stage %d (%s): noise=%.2f rotate=%s, predict-the-mean baseline MAE %.2f %%-pts", stage, name, noise, rot, base)
    model.train()
    for it in range(1, n_steps + 1):
        idx = mx.array(rng.integers(0, Xtr.shape[0], BS))
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(state, loss)
        if it == 1 or it % 50 == 0:
            log.info("stage=%d it=%03d huber=%.4f val_MAE=%.2f %%-pts (baseline %.2f)", stage, it, loss.item(), mae_pct(Xva, Yva), base)
    log.info("stage %d done: val_MAE=%.2f %%-pts", stage, mae_pct(Xva, Yva))
