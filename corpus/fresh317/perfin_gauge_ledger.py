"""Stamp dealer's ledger: perforation gauge (holes per 2 cm) from a scan.

Six synthetic scan readings per stamp.  Torn or trimmed edges make the
reading noisy, so the net predicts a mean and a log-variance and is trained
on the Gaussian negative log-likelihood (it goes below zero once the
variance is small).  Curriculum in two stages: stage 1 uses only clean-edged
stamps, stage 2 adds the torn ones (the loss steps up there).  Between the
stages the run is written to disk, a fresh model and optimizer are built and
the run continues from the files.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N, NV, D = 5000, 1000, 6


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    torn = rng.random(n) < 0.45
    gauge = 13.0 + 1.2 * x[:, 0] - 0.7 * x[:, 1] + 0.5 * np.tanh(2 * x[:, 2]) + 0.3 * x[:, 3] * x[:, 4]
    noise_sd = np.where(torn, 0.45 + 0.25 * np.abs(x[:, 5]), 0.08)
    y = gauge + noise_sd * rng.normal(size=n)
    x[:, 5] = np.where(torn, np.abs(x[:, 5]) + 0.5, -np.abs(x[:, 5]) - 0.5)  # edge-quality reading
    return x, y.astype(np.float32), torn


xtr, ytr, torn_tr = make(N)
xva, yva, torn_va = make(NV)
Y_MU, Y_SD = ytr.mean(), ytr.std()


class GaugeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def nll(model, x, y):
    m, lv = model(x)
    z = (y - Y_MU) / Y_SD
    return mx.mean(0.5 * (lv + (z - m) ** 2 * mx.exp(-lv)))


def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, 740, 1e-4)], [60])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def val_report(model, tag):
    m, lv = model(mx.array(xva))
    pred = np.array(m) * Y_SD + Y_MU
    sd = np.sqrt(np.exp(np.array(lv))) * Y_SD
    rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
    base = float(np.sqrt(np.mean((Y_MU - yva) ** 2)))
    cover = float(np.mean(np.abs(pred - yva) <= 1.645 * sd))
    v_nll = float(nll(model, mx.array(xva), mx.array(yva)))
    print(f"[{tag}] val NLL {v_nll:.3f}  RMSE {rmse:.3f} holes/2cm (predict-the-mean {base:.3f})  90% interval coverage {cover:.3f}"
          f"  clean RMSE {np.sqrt(np.mean((pred - yva)[~torn_va] ** 2)):.3f}  torn RMSE {np.sqrt(np.mean((pred - yva)[torn_va] ** 2)):.3f}")


def run_stage(model, opt, xs, ys, steps, start):
    fn = nn.value_and_grad(model, nll)
    X, Y = mx.array(xs), mx.array(ys)
    for s in range(start, start + steps):
        idx = mx.array(rng.integers(0, len(xs), size=128))
        loss, g = fn(model, X[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if (s + 1) % 100 == 0:
            print(f"step {s + 1:4d}  lr {float(opt.learning_rate):.2e}  train NLL {float(loss):+.4f}")
    return start + steps


t0 = time.time()
model, opt = GaugeNet(), make_opt()
mx.eval(model.parameters())
print(f"stage 1: clean-edged stamps only ({int((~torn_tr).sum())} rows)")
step = run_stage(model, opt, xtr[~torn_tr], ytr[~torn_tr], 400, 0)
val_report(model, "after stage 1")

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {step}")

model, opt = GaugeNet(), make_opt()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed from checkpoint: optimizer step {int(opt.state['step'])}, lr {float(opt.learning_rate):.2e}")
val_report(model, "reloaded")

print(f"stage 2: all stamps, torn edges included ({len(xtr)} rows)")
step = run_stage(model, opt, xtr, ytr, 400, step)
val_report(model, "final")
print(f"finished {step} steps in {time.time() - t0:.1f}s")
