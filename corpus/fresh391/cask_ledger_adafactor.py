"""Whisky warehouse: annual angel's share (% of cask volume lost per year).

Factored second-moment optimiser (Shazeer & Stern 2018) written out by hand,
relative step size with a linear ramp from 0, parameter-scale aware, update
clipping.  The run is stopped half way, written to disk, and picked up again
by fresh objects, as happens when the warehouse laptop is shut for the night.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

FEATURES = ["cask_litres", "racked", "temp_c", "humidity", "fill_abv", "years", "char_level"]


def make_casks(n):
    litres = np.exp(rng.uniform(np.log(50), np.log(500), n))
    racked = (rng.random(n) < 0.55).astype(np.float64)
    temp = rng.normal(12.0, 4.0, n) + 2.5 * racked
    hum = np.clip(rng.normal(78.0, 8.0, n) - 6.0 * racked, 45, 99)
    abv = rng.uniform(55.0, 70.0, n)
    years = rng.uniform(1.0, 25.0, n)
    char = rng.integers(1, 5, n).astype(np.float64)
    share = (2.0 + 0.16 * (temp - 12.0) - 0.045 * (hum - 78.0)
             + 0.55 * np.log(250.0 / litres) + 0.25 * racked
             + 0.02 * (abv - 62.0) * (hum < 70)
             - 0.35 * np.tanh((years - 8.0) / 6.0)
             + 0.12 * np.sin(char * 1.3))
    share = share + rng.normal(0.0, 0.15, n)
    x = np.stack([np.log(litres), racked, temp, hum, abv, years, char], axis=1)
    return x.astype(np.float32), share.astype(np.float32)


x_tr, y_tr = make_casks(8000)
x_va, y_va = make_casks(2000)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
X_tr = mx.array((x_tr - mu) / sd)
X_va = mx.array((x_va - mu) / sd)
Y_tr = mx.array((y_tr - y_mu) / y_sd)
Y_va = mx.array((y_va - y_mu) / y_sd)


class ShareNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


class HandFactored:
    """Adafactor without first moment; state keyed by flattened parameter path."""

    def __init__(self, base=1e-2, ramp=300, d=1.0, eps1=1e-30, eps2=1e-3):
        self.base, self.ramp, self.d = base, ramp, d
        self.eps1, self.eps2 = eps1, eps2
        self.t = 0
        self.state = {}

    def rho(self, t):
        # linear ramp that starts at exactly 0 on the first step, then 1/sqrt decay
        if t <= self.ramp:
            return self.base * (t - 1) / self.ramp
        return self.base * math.sqrt(self.ramp / t)

    def init(self, params):
        for k, p in tree_flatten(params):
            if p.ndim >= 2:
                self.state[k + "|vr"] = mx.zeros(p.shape[:-1], dtype=mx.float32)
                self.state[k + "|vc"] = mx.zeros(p.shape[:-2] + p.shape[-1:], dtype=mx.float32)
            else:
                self.state[k + "|v"] = mx.zeros(p.shape, dtype=mx.float32)

    def update(self, model, grads):
        self.t += 1
        t = self.t
        beta2t = 1.0 - t ** (-0.8)
        rho = self.rho(t)
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for k, g in tree_flatten(grads):
            p = params[k]
            g2 = mx.square(g) + self.eps1
            if p.ndim >= 2:
                vr = beta2t * self.state[k + "|vr"] + (1 - beta2t) * mx.mean(g2, axis=-1)
                vc = beta2t * self.state[k + "|vc"] + (1 - beta2t) * mx.mean(g2, axis=-2)
                self.state[k + "|vr"], self.state[k + "|vc"] = vr, vc
                r = mx.rsqrt(vr / mx.mean(vr, axis=-1, keepdims=True))
                u = g * mx.expand_dims(r, -1) * mx.expand_dims(mx.rsqrt(vc), -2)
            else:
                v = beta2t * self.state[k + "|v"] + (1 - beta2t) * g2
                self.state[k + "|v"] = v
                u = g * mx.rsqrt(v)
            rms_u = mx.sqrt(mx.mean(mx.square(u)))
            u = u / mx.maximum(1.0, rms_u / self.d)
            scale = mx.maximum(self.eps2, mx.sqrt(mx.mean(mx.square(p)))) * rho
            new.append((k, p - scale * u))
        model.update(tree_unflatten(new))
        return rho


def val_report(model):
    pred = model(X_va) * y_sd + y_mu
    err = pred - mx.array(y_va)
    mae = mx.mean(mx.abs(err)).item()
    rmse = mx.sqrt(mx.mean(mx.square(err))).item()
    return mae, rmse


def run_phase(model, opt, first_step, last_step, report_at, tag, t0):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(first_step, last_step + 1):
        idx = mx.array(rng.integers(0, X_tr.shape[0], 128))
        loss, grads = vg(model, X_tr[idx], Y_tr[idx])
        rho = opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in report_at:
            mae, rmse = val_report(model)
            print(f"{tag} t={step:04d}  rho={rho:.3e}  train_mse(std)={np.mean(window):.4f}"
                  f"  val_MAE={mae:.3f} %/yr  val_RMSE={rmse:.3f} %/yr  {time.time() - t0:5.1f}s")
            window = []


print(f"casks: train {len(y_tr)}  valid {len(y_va)}  share mean {y_mu:.2f} %/yr  sd {y_sd:.2f}")
base_mae = float(np.mean(np.abs(y_va - y_mu)))
print(f"reference: predict-the-mean MAE {base_mae:.3f} %/yr ; hydrometer noise sd 0.150 (MAE floor ~0.120)")

t0 = time.time()
model = ShareNet()
mx.eval(model.parameters())
opt = HandFactored()
opt.init(model.trainable_parameters())
n_fact = sum(1 for k in opt.state if k.endswith("|vr"))
n_full = sum(1 for k in opt.state if k.endswith("|v"))
print(f"optimiser state: {n_fact} factored matrices, {n_full} full vectors, "
      f"{sum(v.size for v in opt.state.values())} floats for "
      f"{sum(v.size for _, v in tree_flatten(model.parameters()))} weights")
mae0, _ = val_report(model)
print(f"day-1 t=0000  untrained val_MAE={mae0:.3f} %/yr")

run_phase(model, opt, 1, 1500, {1, 50, 150, 300, 600, 1000, 1500}, "day-1", t0)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "sharenet.safetensors"))
mx.savez(os.path.join(ckdir, "factored.npz"), **{k.replace(".", "~"): v for k, v in opt.state.items()})
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"t": opt.t}, f)
mae_saved, _ = val_report(model)
print(f"-- laptop shut: wrote {sorted(os.listdir(ckdir))} at t={opt.t}")
del model, opt

model = ShareNet()
model.load_weights(os.path.join(ckdir, "sharenet.safetensors"))
opt = HandFactored()
loaded = mx.load(os.path.join(ckdir, "factored.npz"))
opt.state = {k.replace("~", "."): v for k, v in loaded.items()}
with open(os.path.join(ckdir, "meta.json")) as f:
    opt.t = json.load(f)["t"]
mx.eval(model.parameters(), opt.state)
mae_back, _ = val_report(model)
print(f"-- day-2 resume at t={opt.t}: val_MAE {mae_back:.3f} (saved {mae_saved:.3f}), "
      f"{len(opt.state)} state arrays back")

run_phase(model, opt, opt.t + 1, 3000, {2250, 3000}, "day-2", t0)

mae, rmse = val_report(model)
print(f"bottled: val_MAE {mae:.3f} %/yr vs mean-predictor {base_mae:.3f} ; RMSE {rmse:.3f} vs noise 0.150 ; "
      f"{time.time() - t0:.1f}s")
