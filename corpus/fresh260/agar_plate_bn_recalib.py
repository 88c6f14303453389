"""Agar plate screening: clean / bacterial colonies / mould on 12x12 plate scans.

Small conv net with BatchNorm, SGD+momentum under a linear warm-up that starts at
exactly 0, then a BatchNorm recalibration pass over fresh training batches (forward
only, no optimizer), then a held-out evaluation in eval mode.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
H = W = 12
CLASSES = ["clean", "bacterial", "mould"]
PRIOR = [0.5, 0.3, 0.2]


def make_plates(n):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    labels = rng.choice(3, size=n, p=PRIOR)
    imgs = np.empty((n, H, W, 1), np.float32)
    for i, lab in enumerate(labels):
        # agar background: brightness gradient from the lamp + sensor noise
        base = 0.6 + 0.15 * rng.standard_normal() + 0.02 * (xx - W / 2) * rng.standard_normal()
        img = base + 0.12 * rng.standard_normal((H, W))
        if lab == 1:  # several small round colonies
            for _ in range(rng.integers(3, 7)):
                cy, cx = rng.uniform(1, H - 1, 2)
                r2 = (yy - cy) ** 2 + (xx - cx) ** 2
                img += 0.5 * np.exp(-r2 / 1.2)
        elif lab == 2:  # one large fuzzy patch with a darker rim
            cy, cx = rng.uniform(3, H - 3, 2)
            r2 = (yy - cy) ** 2 + (xx - cx) ** 2
            img += 0.4 * np.exp(-r2 / 9.0) - 0.2 * np.exp(-((np.sqrt(r2) - 3.5) ** 2) / 0.8)
        imgs[i, :, :, 0] = img
    # raw camera units: large offset and scale, BatchNorm has to absorb them
    return mx.array(imgs * 40.0 + 100.0), mx.array(labels.astype(np.int32))


class PlateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.b1 = nn.BatchNorm(12)
        self.c2 = nn.Conv2d(12, 24, 3, padding=1, stride=2)
        self.b2 = nn.BatchNorm(24)
        self.c3 = nn.Conv2d(24, 24, 3, padding=1)
        self.b3 = nn.BatchNorm(24)
        self.head = nn.Linear(24, 3)

    def __call__(self, x):
        x = nn.relu(self.b1(self.c1(x)))
        x = nn.relu(self.b2(self.c2(x)))
        x = nn.relu(self.b3(self.c3(x)))
        return self.head(x.mean(axis=(1, 2)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def snapshot(model):
    return {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}


def main():
    t0 = time.time()
    mx.random.seed(3)
    xtr, ytr = make_plates(3000)
    xte, yte = make_plates(800)
    majority = float((np.array(yte) == 0).mean())
    print(f"plates: train {xtr.shape[0]}  test {xte.shape[0]}  majority-class baseline acc {majority:.3f}")

    model = PlateNet()
    mx.eval(model.parameters())
    steps, warm, bs = 300, 40, 48
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, warm), optim.cosine_decay(0.05, steps - warm, 0.002)],
        [warm],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)

    print("stage 1: supervised training (lr warm-up from 0)")
    model.train()
    n = xtr.shape[0]
    for step in range(steps):
        idx = mx.array(rng.integers(0, n, bs))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0 or step == steps - 1:
            print(f"  step {step:4d}  lr {opt.learning_rate.item():.4f}  loss {loss.item():.4f}")

    model.eval()
    acc_before = accuracy(model, xte, yte)
    print(f"test acc with training-time running stats: {acc_before:.3f}")

    print("stage 2: BatchNorm recalibration (forward only, weights held)")
    before = snapshot(model)
    rm0 = np.array(model.b3.running_mean)
    for layer in (model.b1, model.b2, model.b3):
        layer.momentum = 0.3
    model.train()
    for k in range(20):
        idx = mx.array(rng.integers(0, n, 192))
        mx.eval(model(xtr[idx]))
        mx.eval(model.b1.running_mean, model.b1.running_var, model.b2.running_mean,
                model.b2.running_var, model.b3.running_mean, model.b3.running_var)
    after = snapshot(model)
    wdelta = max(float(np.abs(after[k] - before[k]).max()) for k in before)
    rmdelta = float(np.abs(np.array(model.b3.running_mean) - rm0).max())
    print(f"  max |delta| trainable weights {wdelta:.3e}  max |delta| b3.running_mean {rmdelta:.4f}")

    print("stage 3: evaluation")
    model.eval()
    acc = accuracy(model, xte, yte)
    pred = np.array(mx.argmax(model(xte), axis=1))
    yt = np.array(yte)
    for c, name in enumerate(CLASSES):
        m = yt == c
        print(f"  {name:9s} n={int(m.sum()):4d}  recall {float((pred[m] == c).mean()):.3f}")
    print(f"test acc {acc:.3f}  (majority baseline {majority:.3f}, before recalibration {acc_before:.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
