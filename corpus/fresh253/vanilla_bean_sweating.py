"""Vanilla curing house: vanillin content (% dry weight) of a cured batch.

Inputs per batch (8, synthetic): killing-water temperature, killing time,
sweating days, mean sweat-box temperature, sun-drying hours, relative humidity
in the conditioning room, bean length, harvest ripeness score.
A small net predicts a mean and a log-variance, fitted with the Gaussian
negative log-likelihood, so the training objective goes below zero once the
predicted spread becomes small.

Run layout:
  * learning rate warms up linearly from exactly 0 over the first 60 steps,
    then cosine-decays;
  * session A trains to step 240, writes a checkpoint (weights, EMA weights,
    optimizer state, step, rng) and the objects are thrown away;
  * session B rebuilds everything from the checkpoint and continues to 600;
  * validation only every 80 steps, on the raw weights and on an exponential
    moving average of the weights, next to a predict-the-train-mean baseline.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

SEED = 11
N_TRAIN, N_VAL = 4000, 1000
BATCH = 64
WARMUP, TOTAL, SESSION_A_END = 60, 600, 240
EVAL_EVERY = 80
EMA_DECAY = 0.98
PEAK_LR = 3e-3


def make_batches(n, rng):
    kw_t = rng.uniform(60, 70, n)        # degC
    kw_s = rng.uniform(1, 3, n)          # minutes
    sweat = rng.uniform(5, 15, n)        # days
    box_t = rng.uniform(40, 50, n)       # degC
    sun = rng.uniform(10, 60, n)         # hours
    rh = rng.uniform(55, 85, n)          # %
    length = rng.uniform(12, 22, n)      # cm
    ripe = rng.uniform(0, 1, n)
    x = np.stack([kw_t, kw_s, sweat, box_t, sun, rh, length, ripe], 1)
    enz = np.exp(-((kw_t - 65) / 3.5) ** 2) * (1 - np.exp(-kw_s))
    mean = (1.1 + 1.6 * enz + 0.09 * sweat - 0.003 * (sweat - 10) ** 2 * 8
            + 0.02 * (box_t - 45) + 0.008 * sun - 0.0001 * sun ** 2
            + 0.6 * ripe + 0.03 * (length - 17))
    noise_sd = 0.05 + 0.10 * (rh - 55) / 30       # damp rooms give uneven batches
    y = mean + noise_sd * rng.normal(size=n)
    return x.astype(np.float32), y.astype(np.float32)[:, None]


class CureNet(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.mean = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h), self.logvar(h)


def gauss_nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv)))


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    t = (step - WARMUP) / (TOTAL - WARMUP)
    return PEAK_LR * 0.5 * (1 + np.cos(np.pi * t))


def val_metrics(model, x, y, y_sd):
    m, lv = model(x)
    nll = mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv))).item()
    rmse = mx.sqrt(mx.mean((m - y) ** 2)).item() * y_sd
    return nll, rmse


data_rng = np.random.default_rng(SEED)
x_tr, y_tr = make_batches(N_TRAIN, data_rng)
x_va, y_va = make_batches(N_VAL, data_rng)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_trn, y_van = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd
X_tr, Y_tr, X_va, Y_va = map(mx.array, (x_tr, y_trn, x_va, y_van))
base_rmse = float(np.sqrt(np.mean((y_va - y_mu) ** 2)))
print(f"vanillin %: train mean {y_mu:.3f}  sd {y_sd:.3f}   "
      f"baseline (train mean) val rmse {base_rmse:.4f}")

ckpt_dir = tempfile.mkdtemp(None, "cure_")


def build():
    model = CureNet()
    opt = optim.Adam(learning_rate=0.0)
    return model, opt


def run_session(model, opt, ema, start, end, batch_rng):
    step_fn = nn.value_and_grad(model, gauss_nll)
    running, count = 0.0, 0
    for step in range(start, end):
        opt.learning_rate = lr_at(step)
        idx = mx.array(batch_rng.integers(0, N_TRAIN, BATCH))
        loss, grads = step_fn(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        ema = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema, loss)
        running += loss.item()
        count += 1
        if step == 0 or step == 1:
            print(f"step {step:4d}  lr {lr_at(step):.2e}  train nll {loss.item():+.4f}")
        if (step + 1) % EVAL_EVERY == 0:
            raw_nll, raw_rmse = val_metrics(model, X_va, Y_va, y_sd)
            live = model.parameters()
            model.update(ema)
            ema_nll, ema_rmse = val_metrics(model, X_va, Y_va, y_sd)
            model.update(live)
            print(f"step {step + 1:4d}  lr {lr_at(step):.2e}  train nll(avg) {running / count:+.4f} | "
                  f"val nll raw {raw_nll:+.4f} ema {ema_nll:+.4f} | "
                  f"val rmse raw {raw_rmse:.4f} ema {ema_rmse:.4f} (baseline {base_rmse:.4f})")
            running, count = 0.0, 0
    return ema


t0 = time.time()
mx.random.seed(SEED)
model, opt = build()
mx.eval(model.parameters())
ema = tree_map(lambda p: mx.array(p), model.parameters())
batch_rng = np.random.default_rng(SEED + 1)
print(f"session A: steps 0..{SESSION_A_END}")
ema = run_session(model, opt, ema, 0, SESSION_A_END, batch_rng)

# checkpoint
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "ema.safetensors"), dict(tree_flatten(ema)))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
    json.dump({"step": SESSION_A_END, "rng": batch_rng.bit_generator.state}, f)
a_nll, _ = val_metrics(model, X_va, Y_va, y_sd)
del model, opt, ema
print(f"checkpoint written to {ckpt_dir} (val nll at save {a_nll:+.4f})")

# resume
model, opt = build()
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
ema = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "ema.safetensors")).items()))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
with open(os.path.join(ckpt_dir, "meta.json")) as f:
    meta = json.load(f)
batch_rng = np.random.default_rng()
batch_rng.bit_generator.state = meta["rng"]
b_nll, _ = val_metrics(model, X_va, Y_va, y_sd)
print(f"session B: resumed at step {meta['step']} (val nll after load {b_nll:+.4f})")
ema = run_session(model, opt, ema, meta["step"], TOTAL, batch_rng)

model.update(ema)
f_nll, f_rmse = val_metrics(model, X_va, Y_va, y_sd)
m, lv = model(X_va)
pred_sd = float(mx.mean(mx.exp(0.5 * lv)).item()) * y_sd
print(f"final (EMA weights)  val nll {f_nll:+.4f}  val rmse {f_rmse:.4f} %  "
      f"mean predicted sd {pred_sd:.4f} %  vs baseline rmse {base_rmse:.4f} %")
print(f"done in {time.time() - t0:.1f}s")
