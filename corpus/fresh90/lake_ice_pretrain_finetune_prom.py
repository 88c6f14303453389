"""Lake-ice thickness: a regional model, then a fine-tune for one lake district.

Stage 1 trains a regional regressor on many lakes and writes its weights to a
scratch directory.  Stage 2 builds a fresh model, loads those weights, freezes
the input layer on purpose and fine-tunes the rest on a small set of lakes from
a district whose snow insulates a little more.  The fine-tune starts close to
its floor, so its loss only moves a little.

Metrics are written in the Prometheus text exposition format so a node
exporter textfile collector could scrape them.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["fdd", "snow_cm", "wind_ms", "depth_m", "lat", "days_frozen"]


def make_lakes(rng, n, snow_insulation):
    fdd = rng.uniform(50, 1400, n)            # freezing degree-days
    snow = rng.gamma(2.0, 9.0, n)              # snow on the ice (cm)
    wind = rng.uniform(0, 12, n)
    depth = rng.lognormal(1.8, 0.6, n)
    lat = rng.uniform(44, 68, n)
    days = fdd / rng.uniform(6, 18, n)
    # made-up Stefan-like law: h = a * sqrt(FDD), damped by snow, helped by wind
    a = 2.4 + 0.04 * (lat - 44) + 0.05 * wind - 0.15 * np.log1p(depth)
    damp = np.exp(-snow_insulation * snow)
    h = a * np.sqrt(fdd) * damp + 0.02 * days + rng.normal(0, 2.0, n)
    x = np.stack([fdd, snow, wind, depth, lat, days], axis=1).astype(np.float32)
    return x, h.astype(np.float32)


class IceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 64), nn.Linear(64, 64), nn.Linear(64, 1)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.silu(layer(x))
        return self.layers[-1](x).squeeze(-1)


class Prom:
    """Tiny Prometheus text-format writer (HELP/TYPE once per metric)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.declared = set()

    def emit(self, name, value, help_text, kind="gauge", **labels):
        full = f"{self.prefix}_{name}"
        if full not in self.declared:
            print(f"# HELP {full} {help_text}")
            print(f"# TYPE {full} {kind}")
            self.declared.add(full)
        lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lab = "{" + lab + "}" if lab else ""
        print(f"{full}{lab} {value:.6g}", flush=True)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_mae_cm(model, x, y, y_sd):
    pred = np.array(model(x))
    return float(np.mean(np.abs(pred - np.array(y)))) * y_sd


def grad_report(model, x, y, prom, phase):
    _, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    flat = tree_flatten(g)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    prom.emit("grad_leaves_total", len(flat), "trainable gradient leaves at the first step", phase=phase)
    prom.emit("grad_leaves_zero", len(zero), "trainable leaves whose first gradient is all zero", phase=phase)
    return zero


def run_epochs(model, opt, xtr, ytr, xva, yva, y_sd, epochs, bs, rng, prom, phase):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    prom.emit("val_mae_cm", val_mae_cm(model, xva, yva, y_sd),
              "validation mean absolute error of ice thickness in cm (lower is better)",
              phase=phase, epoch=0)
    steps = 0
    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        total, count = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item()
            count += 1
            steps += 1
        prom.emit("train_mse_std", total / count,
                  "mean training MSE over the epoch in standardised target units",
                  phase=phase, epoch=ep)
        prom.emit("val_mae_cm", val_mae_cm(model, xva, yva, y_sd),
                  "validation mean absolute error of ice thickness in cm (lower is better)",
                  phase=phase, epoch=ep)
        prom.emit("epoch_seconds", time.perf_counter() - t0, "wall time of the epoch",
                  phase=phase, epoch=ep)
    prom.emit("optimizer_steps", steps, "optimizer steps taken", kind="counter", phase=phase)


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(7)
    prom = Prom("lakeice")

    xs, ys = make_lakes(rng, 26000, snow_insulation=0.030)   # regional archive
    xd, yd = make_lakes(rng, 1500, snow_insulation=0.034)    # the district
    xdv, ydv = make_lakes(rng, 1500, snow_insulation=0.034)

    mu, sd = xs.mean(0), xs.std(0)
    y_mu, y_sd = float(ys.mean()), float(ys.std())

    def prep(x, y):
        return mx.array((x - mu) / sd), mx.array((y - y_mu) / y_sd)

    Xs, Ys = prep(xs[:24000], ys[:24000])
    Xsv, Ysv = prep(xs[24000:], ys[24000:])
    Xd, Yd = prep(xd, yd)
    Xdv, Ydv = prep(xdv, ydv)
    prom.emit("rows", 24000, "training rows", phase="pretrain")
    prom.emit("rows", 1500, "training rows", phase="finetune")
    prom.emit("mean_baseline_mae_cm", float(np.mean(np.abs(ydv - ydv.mean()))),
              "district validation MAE of predicting the mean thickness (cm)")

    # ---- stage 1: regional model ---------------------------------------
    regional = IceNet()
    mx.eval(regional.parameters())
    zero = grad_report(regional, Xs[:256], Ys[:256], prom, "pretrain")
    assert not zero, zero
    opt = optim.Adam(learning_rate=2e-3)
    run_epochs(regional, opt, Xs, Ys, Xsv, Ysv, y_sd, 10, 64, rng, prom, "pretrain")
    prom.emit("district_val_mae_cm", val_mae_cm(regional, Xdv, Ydv, y_sd),
              "regional model applied to the district, before fine-tuning (cm)")

    ckpt_dir = tempfile.mkdtemp(prefix="lakeice_")
    path = os.path.join(ckpt_dir, "regional.safetensors")
    regional.save_weights(path)
    del regional, opt

    # ---- stage 2: district fine-tune from the saved weights -----------
    local = IceNet()
    local.load_weights(path, strict=True)
    local.layers[0].freeze()                      # keep the regional input features
    frozen_before = np.array(local.layers[0].weight)
    mx.eval(local.parameters())
    zero = grad_report(local, Xd[:256], Yd[:256], prom, "finetune")
    assert not zero, zero
    n_train = sum(v.size for _, v in tree_flatten(local.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(local.parameters()))
    prom.emit("trainable_share_ratio", n_train / n_all, "share of weights the fine-tune may change")
    opt = optim.SGD(learning_rate=5e-3, momentum=0.9)
    run_epochs(local, opt, Xd, Yd, Xdv, Ydv, y_sd, 30, 32, rng, prom, "finetune")

    drift = float(np.abs(np.array(local.layers[0].weight) - frozen_before).max())
    prom.emit("frozen_layer_max_change", drift, "max |change| of the frozen input layer")
    prom.emit("noise_floor_mae_cm", 2.0 * math.sqrt(2 / math.pi),
              "MAE of the 2 cm observation noise alone")
    os.remove(path)
    os.rmdir(ckpt_dir)


if __name__ == "__main__":
    main()
