"""Hazel coppice survey: predict the length of the longest rod on a stool (cm)
from six plot readings.  Two survey seasons: lowland stools first, then upland
stools where deer browse the tips.  AdaDelta optimiser, a mid-season checkpoint
that is written to disk and read back into freshly built objects, and a clean
optimiser for the upland season.
"""
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

NOISE_CM = 9.0


def make_plots(rng, n, upland):
    years = rng.uniform(1, 9, n)           # years since last cut
    stool_age = rng.uniform(5, 80, n)      # years
    shade = rng.uniform(0, 1, n)           # canopy shade fraction
    moisture = rng.uniform(0.1, 0.6, n)    # volumetric soil moisture
    browse = rng.uniform(0, 1, n) * (1.0 if upland else 0.15)
    south = rng.uniform(-1, 1, n)          # cos(aspect), +1 = south facing
    growth = 95 * np.log1p(years) * (1 - 0.55 * shade) * (0.7 + moisture)
    growth *= 1 - 0.004 * np.maximum(stool_age - 40, 0)
    growth += 12 * south
    if upland:
        growth *= 0.85
        growth -= 70 * browse * np.exp(-0.25 * years)
    y = growth + rng.normal(0, NOISE_CM, n)
    X = np.stack([years, stool_age, shade, moisture, browse, south], 1)
    return X.astype(np.float32), y.astype(np.float32)


class RodNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def standardise(X, mu, sd):
    return (X - mu) / sd


rng = np.random.default_rng(313)
Xl, yl = make_plots(rng, 5000, upland=False)
Xu, yu = make_plots(rng, 5000, upland=True)
mu, sd = Xl.mean(0), Xl.std(0) + 1e-6
ymu, ysd = float(yl.mean()), float(yl.std())


def split(X, y):
    Xs = standardise(X, mu, sd)
    ys = (y - ymu) / ysd
    return (mx.array(Xs[:4000]), mx.array(ys[:4000]),
            mx.array(Xs[4000:]), mx.array(ys[4000:]))


low = split(Xl, yl)
up = split(Xu, yu)


def rmse_cm(model, Xv, yv):
    return float(mx.sqrt(nn.losses.mse_loss(model(Xv), yv))) * ysd


def mean_baseline_cm(ytr, yv):
    return float(mx.sqrt(mx.mean((yv - mx.mean(ytr)) ** 2))) * ysd


def build(seed):
    mx.random.seed(seed)
    m = RodNet()
    mx.eval(m.parameters())
    o = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
    return m, o


def train(model, opt, data, steps, start, batch_rng, quiet=range(0)):
    Xtr, ytr, Xv, yv = data
    step_fn = nn.value_and_grad(model, loss_fn)
    for s in range(start, start + steps):
        idx = mx.array(batch_rng.integers(0, Xtr.shape[0], 128))
        loss, g = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if (s + 1) % 30 == 0 and (s + 1) not in quiet:
            print(f"step {s+1:4d} | train mse(std) {float(loss):.4f} | "
                  f"val rmse {rmse_cm(model, Xv, yv):6.2f} cm | opt.step {int(opt.step)}")


# ---------------- season 1: lowland stools ----------------
print("season 1: lowland stools, AdaDelta(lr=1.0, rho=0.95)")
batch_rng = np.random.default_rng(7)
model, opt = build(seed=0)
train(model, opt, low, 180, 0, batch_rng, quiet=range(61, 180))

probe_x, probe_y = low[2][:256], low[3][:256]
before = float(loss_fn(model, probe_x, probe_y))
with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "rodnet.safetensors"))
    mx.save_safetensors(os.path.join(d, "adadelta.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"step": 180, "batch_rng": batch_rng.bit_generator.state}, f)
    del model, opt
    model, opt = build(seed=99)   # different init on purpose, overwritten below
    model.load_weights(os.path.join(d, "rodnet.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "adadelta.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    batch_rng = np.random.default_rng()
    batch_rng.bit_generator.state = meta["batch_rng"]
after = float(loss_fn(model, probe_x, probe_y))
print(f"checkpoint at step {meta['step']}: probe mse before {before:.6f} after {after:.6f} "
      f"| restored opt.step {int(opt.step)}")
train(model, opt, low, 180, 180, batch_rng)
print(f"season 1 done: val rmse {rmse_cm(model, low[2], low[3]):.2f} cm | "
      f"predict-the-mean {mean_baseline_cm(low[1], low[3]):.2f} cm | noise floor {NOISE_CM:.2f} cm")

# ---------------- season 2: upland stools (browsed) ----------------
print("season 2: upland stools with deer browsing, new AdaDelta state")
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
print(f"season 2 start: val rmse {rmse_cm(model, up[2], up[3]):.2f} cm on upland plots")
train(model, opt, up, 300, 0, batch_rng)
print(f"season 2 done: val rmse {rmse_cm(model, up[2], up[3]):.2f} cm | "
      f"predict-the-mean {mean_baseline_cm(up[1], up[3]):.2f} cm | noise floor {NOISE_CM:.2f} cm")
print(f"lowland check after season 2: val rmse {rmse_cm(model, low[2], low[3]):.2f} cm")
