# Crop-type mapping from 32-band hyperspectral pixels (400-1000 nm).
# Stage 1 trains on clear-sky pixels; stage 2 switches to a mix with haze and
# cloud-shadowed pixels (the loss jumps when the harder data arrive).
# The learning rate warms up from exactly 0 at the start of each stage.
import sys
from functools import partial
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
BANDS = np.linspace(400.0, 1000.0, 32)
CROPS = ["wheat", "maize", "soy", "rice", "fallow", "orchard"]


def g(mu, sd):
    return np.exp(-0.5 * ((BANDS - mu) / sd) ** 2)


def crop_curve(k):
    # green peak, red absorption, red edge position, NIR plateau and water dip
    edge = 700.0 + 6.0 * k
    nir = [0.42, 0.50, 0.46, 0.35, 0.22, 0.55][k]
    green = [0.10, 0.08, 0.12, 0.09, 0.14, 0.07][k]
    soil = [0.05, 0.03, 0.04, 0.10, 0.25, 0.04][k]
    r = soil * (BANDS / 700.0) + green * g(550.0, 25.0)
    r = r + nir / (1.0 + np.exp(-(BANDS - edge) / 12.0))
    r = r - 0.06 * g(970.0, 20.0) * (1.0 + 0.5 * (k == 3))
    return np.clip(r, 0.005, None)


CURVES = np.stack([crop_curve(k) for k in range(len(CROPS))])


def make_pixels(n, hazy_frac):
    y = rng.integers(0, len(CROPS), size=n)
    bright = rng.uniform(0.8, 1.2, size=(n, 1))
    x = CURVES[y] * bright + rng.normal(0, 0.03, size=(n, 32))
    hazy = rng.random(n) < hazy_frac
    haze = rng.uniform(0.02, 0.10, size=(n, 1)) * (450.0 / BANDS) ** 4
    shadow = rng.uniform(0.35, 0.7, size=(n, 1))
    x_h = x * shadow + haze + rng.normal(0, 0.02, size=(n, 32))
    x = np.where(hazy[:, None], x_h, x)
    return np.log(np.clip(x, 1e-3, None)).astype(np.float32), y.astype(np.int32)


Xc, Yc = make_pixels(6000, 0.0)
Xm, Ym = make_pixels(6000, 0.6)
Xv_c, Yv_c = make_pixels(1200, 0.0)
Xv_h, Yv_h = make_pixels(1200, 1.0)
MU, SD = Xc.mean(0), Xc.std(0) + 1e-6  # band stats from clear-sky pixels only


def prep(x):
    return mx.array(((x - MU) / SD)[:, :, None])


class SpectralNet(nn.Module):
    def __init__(self, n_cls):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(12, 16, kernel_size=5, stride=2, padding=2)
        self.fc = nn.Linear(16 * 16, 48)
        self.out = nn.Linear(48, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = h.reshape(h.shape[0], -1)
        return self.out(nn.gelu(self.fc(h)))


mx.random.seed(3)
model = SpectralNet(len(CROPS))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def kappa(pred, y, k):
    cm = np.zeros((k, k))
    np.add.at(cm, (y, pred), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = (cm.sum(0) * cm.sum(1)).sum() / n**2
    return (po - pe) / (1 - pe)


def evaluate(x, y):
    pred = np.array(mx.argmax(model(prep(x)), axis=1))
    oa = 100.0 * (pred == y).mean()
    base = 100.0 * np.bincount(y).max() / len(y)
    return oa, kappa(pred, y, len(CROPS)), base


def bar(i, n, width=20):
    f = int(width * i / n)
    return "|" + "#" * f + "-" * (width - f) + "|"


STEPS, BS = 160, 128
stages = [("clear-sky", Xc, Yc), ("haze+shadow", Xm, Ym)]
t0 = time.time()
for s, (name, X, Y) in enumerate(stages):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 25), optim.cosine_decay(3e-3, STEPS - 25, 1e-4)], [25]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    Xs = prep(X)
    Ys = mx.array(Y)
    if s == 0:
        _, g0 = nn.value_and_grad(model, loss_fn)(model, Xs[:BS], Ys[:BS])
        flat = [(k, float(mx.abs(v).sum())) for k, v in nn.utils.tree_flatten(g0)]
        nz = sum(1 for _, a in flat if a > 0)
        print(f"audit: {nz}/{len(flat)} parameter tensors receive gradient")
    run = 0.0
    for i in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, len(Y), size=BS))
        loss = step(Xs[idx], Ys[idx])
        mx.eval(state, loss)
        run = 0.9 * run + 0.1 * loss.item() if i > 1 else loss.item()
        if i % 20 == 0 or i == 1:
            lr = opt.learning_rate.item()
            sys.stdout.write(
                f"stage {s + 1}/2 {name:<12}{bar(i, STEPS)} {i:3d}/{STEPS} "
                f"[xent={run:.3f}, lr={lr:.2e}]\n"
            )
    oa_c, k_c, b_c = evaluate(Xv_c, Yv_c)
    oa_h, k_h, b_h = evaluate(Xv_h, Yv_h)
    print(
        f"  end of stage {s + 1}: clear OA {oa_c:5.1f}% kappa {k_c:.3f} | "
        f"hazy OA {oa_h:5.1f}% kappa {k_h:.3f} | majority-class baseline {b_c:.1f}%"
    )
print(f"done in {time.time() - t0:.1f}s")
