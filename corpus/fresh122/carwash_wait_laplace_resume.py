"""Car wash: predict the queue wait (minutes) at an automatic car-wash site AND its spread.

Laplace negative log-likelihood (location mu, scale b) on a standardised target, so the
printed NLL goes below zero once the model is sharp.  The run trains for a while, writes a
checkpoint (weights + Adamax state) to a temp dir, throws the model away, rebuilds it from
the checkpoint and carries on, the way a job restarted on a new machine would.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
FEATURES = ["hour_sin", "hour_cos", "days_since_rain", "temp_c", "weekend", "brush_rpm_pct", "road_salt_idx"]


def make_days(n):
    hour = rng.uniform(8.5, 16.5, n)
    dry_days = rng.gamma(1.2, 8.0, n)
    temp = rng.normal(-6, 5, n)
    weekend = (rng.random(n) < 2 / 7).astype(np.float64)
    brush = rng.integers(60, 121, n).astype(np.float64)
    salt = rng.gamma(2.0, 12.0, n)
    crowd = (1.0 + 0.9 * weekend + 0.03 * dry_days - 0.02 * np.abs(temp + 4)) * \
        np.exp(-((hour - 10.5) ** 2) / 3.0) + 0.35
    wait = 18.0 * crowd * (90.0 / brush) * (1.0 + 0.015 * np.maximum(salt - 35, 0))
    spread = 0.2 + 0.05 * wait * (0.5 + 0.5 * weekend) + 0.01 * salt
    wait = np.maximum(wait + rng.laplace(0, spread), 0.0)
    x = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24), dry_days, temp,
                  weekend, brush, salt], axis=1)
    return x, wait


class WaitNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.loc = nn.Linear(hidden, 1)
        self.log_scale = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.loc(h).squeeze(-1), mx.clip(self.log_scale(h).squeeze(-1), -6.0, 3.0)


def laplace_nll(model, x, y):
    mu, log_b = model(x)
    return mx.mean(log_b + mx.abs(y - mu) * mx.exp(-log_b) + np.log(2.0))


def evaluate(model, x, y, y_sd):
    mu, log_b = model(x)
    nll = laplace_nll(model, x, y).item()
    mae_min = float(mx.mean(mx.abs(mu - y)).item()) * y_sd
    return nll, mae_min


def train_epochs(model, opt, x, y, xv, yv, y_sd, epochs, start_epoch, tag, t0):
    step_fn = nn.value_and_grad(model, laplace_nll)
    n, bs = x.shape[0], 200
    for ep in range(start_epoch, start_epoch + epochs):
        perm = rng.permutation(n)
        tot, k = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = step_fn(model, x[idx], y[idx])
            if ep == 1 and k == 0:
                zero = [p for p, g in tree_flatten(grads) if float(mx.abs(g).max().item()) == 0.0]
                print(f"first step: {len(tree_flatten(grads))} leaves, all-zero gradients: {len(zero)}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            k += 1
        vnll, vmae = evaluate(model, xv, yv, y_sd)
        print(f"{tag:<8} epoch {ep:2d}  train_nll {tot / k:+.4f}  val_nll {vnll:+.4f}  "
              f"val_mae {vmae:5.2f} min  t={time.time() - t0:5.1f}s")


def main():
    mx.random.seed(3)
    xtr, ytr = make_days(16000)
    xva, yva = make_days(3000)
    mu_x, sd_x = xtr.mean(0), xtr.std(0)
    mu_y, sd_y = ytr.mean(), ytr.std()
    X = mx.array(((xtr - mu_x) / sd_x).astype(np.float32))
    Y = mx.array(((ytr - mu_y) / sd_y).astype(np.float32))
    XV = mx.array(((xva - mu_x) / sd_x).astype(np.float32))
    YV = mx.array(((yva - mu_y) / sd_y).astype(np.float32))
    print(f"{len(FEATURES)} features, wait mean {mu_y:.1f} min sd {sd_y:.1f} min; "
          f"predict-the-median val MAE {np.mean(np.abs(yva - np.median(ytr))):.2f} min")

    t0 = time.time()
    model = WaitNet(X.shape[1])
    opt = optim.Adamax(learning_rate=2e-3)
    train_epochs(model, opt, X, Y, XV, YV, sd_y, epochs=6, start_epoch=1, tag="run-1", t0=t0)

    with tempfile.TemporaryDirectory() as d:
        wpath = os.path.join(d, "carwash_model.safetensors")
        opath = os.path.join(d, "carwash_opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        before = evaluate(model, XV, YV, sd_y)[0]
        del model, opt
        print(f"checkpoint written ({os.path.getsize(wpath) // 1024} KiB weights); restarting")

        model = WaitNet(X.shape[1])
        model.load_weights(wpath)
        opt = optim.Adamax(learning_rate=2e-3)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        after = evaluate(model, XV, YV, sd_y)[0]
        print(f"restored: val_nll before {before:+.4f} / after {after:+.4f}, "
              f"optimizer step {int(opt.state['step'].item())}")
        train_epochs(model, opt, X, Y, XV, YV, sd_y, epochs=6, start_epoch=7, tag="resumed", t0=t0)


if __name__ == "__main__":
    main()
