"""Salt-marsh sediment accretion from 16 h of tide-gauge readings.

Bidirectional GRU over the hourly window, Gaussian mean / log-variance head,
heteroscedastic Gaussian negative log-likelihood (no 2*pi constant).
Trained in two sessions: session 1 writes a checkpoint (weights, optimizer
state, step), session 2 rebuilds everything from scratch and resumes it.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T = 16
PEAK_LR = 3e-3
WARMUP = 40
TOTAL = 360
SESSION1_END = 180
BATCH = 64


def make_data(n, rng):
    hours = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    rng_amp = rng.uniform(0.6, 1.8, size=(n, 1))  # spring / neap amplitude (m)
    surge = rng.normal(0.0, 0.25, size=(n, 1))
    level = rng_amp * np.sin(2 * np.pi * hours / 12.42 + phase) + surge
    level += rng.normal(0, 0.05, size=level.shape)
    wind = np.abs(rng.normal(6, 3, size=(n, 1))) + rng.normal(0, 0.5, size=(n, T))
    ssc = np.exp(rng.normal(3.5, 0.4, size=(n, 1))) * (1 + 0.02 * wind)  # mg/L
    flooded = np.clip(level - 0.2, 0, None)  # water depth over the platform
    load = (flooded * ssc).sum(axis=1) / 100.0
    accretion = 0.8 * np.log1p(load) + 0.05 * wind.mean(axis=1)
    noise_sd = 0.05 + 0.12 * (ssc[:, 0] / ssc.mean())
    y = accretion + rng.normal(0, 1, size=n) * noise_sd
    x = np.stack([level, (wind - 6) / 3, np.log(ssc) * np.ones((1, T)) - 3.5], axis=-1)
    return x.astype(np.float32), y.astype(np.float32)


class BiGRURegressor(nn.Module):
    def __init__(self, d_in=3, hidden=16):
        super().__init__()
        self.fwd = nn.GRU(d_in, hidden)
        self.bwd = nn.GRU(d_in, hidden)
        self.head = nn.Linear(2 * hidden, 2)

    def __call__(self, x):
        hf = self.fwd(x)[:, -1, :]
        hb = self.bwd(x[:, ::-1, :])[:, -1, :]
        out = self.head(mx.concatenate([hf, hb], axis=-1))
        return out[:, 0], out[:, 1]


def gaussian_nll(model, x, y):
    mu, log_var = model(x)
    log_var = mx.clip(log_var, -8.0, 6.0)
    return mx.mean(0.5 * (log_var + (y - mu) ** 2 * mx.exp(-log_var)))


def lr_schedule(step):
    # linear warm-up from exactly 0, then polynomial (power 2) decay to 0
    s = step.astype(mx.float32) if isinstance(step, mx.array) else mx.array(step, mx.float32)
    warm = PEAK_LR * s / WARMUP
    frac = mx.clip((s - WARMUP) / (TOTAL - WARMUP), 0.0, 1.0)
    decay = PEAK_LR * (1.0 - frac) ** 2
    return mx.where(s < WARMUP, warm, decay)


def evaluate(model, x, y):
    mu, log_var = model(x)
    nll = gaussian_nll(model, x, y)
    mae = mx.mean(mx.abs(mu - y))
    std_z = mx.mean(((y - mu) * mx.exp(-0.5 * log_var)) ** 2)
    mx.eval(nll, mae, std_z)
    return nll.item(), mae.item(), std_z.item()


def run_session(tag, model, opt, xtr, ytr, xva, yva, start, stop, log_every, rng):
    loss_and_grad = nn.value_and_grad(model, gaussian_nll)
    n = xtr.shape[0]
    t0 = time.time()
    for step in range(start, stop):
        idx = rng.integers(0, n, size=BATCH)
        xb, yb = mx.array(xtr[idx]), mx.array(ytr[idx])
        lr_now = lr_schedule(opt.step).item()
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0 or step == stop - 1:
            vnll, vmae, z2 = evaluate(model, xva, yva)
            print(f"[{tag}] step {step:4d}  lr {lr_now:.2e}  train_nll {loss.item():+.4f}  "
                  f"val_nll {vnll:+.4f}  val_mae {vmae:.4f} mm  z^2 {z2:.2f}")
    print(f"[{tag}] {stop - start} steps in {time.time() - t0:.1f}s")


def main():
    rng = np.random.default_rng(11)
    xtr, ytr = make_data(6000, rng)
    xva, yva = make_data(800, rng)
    y_mean, y_std = ytr.mean(), ytr.std()
    ytr_s = (ytr - y_mean) / y_std
    yva_s = (yva - y_mean) / y_std
    xva_m, yva_m = mx.array(xva), mx.array(yva_s)

    clim_mae = float(np.mean(np.abs(yva_s - 0.0)))
    feats_tr = np.concatenate([xtr.mean(1), xtr.max(1), np.ones((len(xtr), 1))], axis=1)
    feats_va = np.concatenate([xva.mean(1), xva.max(1), np.ones((len(xva), 1))], axis=1)
    w, *_ = np.linalg.lstsq(feats_tr, ytr_s, rcond=None)
    lin_mae = float(np.mean(np.abs(feats_va @ w - yva_s)))
    print(f"baselines (standardised units): climatology MAE {clim_mae:.4f}, "
          f"window-summary linear MAE {lin_mae:.4f}")
    print(f"target scale: mean {y_mean:.3f} mm, std {y_std:.3f} mm")

    ckpt_dir = tempfile.mkdtemp()

    # ---- session 1 ----
    mx.random.seed(0)
    model = BiGRURegressor()
    opt = optim.Adam(learning_rate=lr_schedule)
    mx.eval(model.parameters())
    print(f"session 1: lr at step 0 = {lr_schedule(0).item():.1e}")
    run_session("s1", model, opt, xtr, ytr_s, xva_m, yva_m, 0, SESSION1_END, 30, rng)
    model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"next_step": SESSION1_END}, f)
    s1_nll, s1_mae, _ = evaluate(model, xva_m, yva_m)
    print(f"checkpoint written to {ckpt_dir} (val_nll {s1_nll:+.4f})")
    del model, opt

    # ---- session 2: fresh objects, restored from disk ----
    mx.random.seed(123)
    model = BiGRURegressor()
    model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    opt = optim.Adam(learning_rate=lr_schedule)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "meta.json")) as f:
        start = json.load(f)["next_step"]
    r_nll, _, _ = evaluate(model, xva_m, yva_m)
    print(f"resumed at step {start}: optimizer step {opt.step.item()}, "
          f"lr {lr_schedule(opt.step).item():.2e}, val_nll {r_nll:+.4f}")
    run_session("s2", model, opt, xtr, ytr_s, xva_m, yva_m, start, TOTAL, 90, rng)

    f_nll, f_mae, z2 = evaluate(model, xva_m, yva_m)
    print(f"final: val_nll {f_nll:+.4f}  val_mae {f_mae:.4f}  (climatology {clim_mae:.4f}, "
          f"linear {lin_mae:.4f})  mean z^2 {z2:.2f}  final lr {lr_schedule(opt.step).item():.1e}")


if __name__ == "__main__":
    main()
