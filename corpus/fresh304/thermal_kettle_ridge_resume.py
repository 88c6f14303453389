"""Paragliding flight logs: climb rate (m/s) in a thermal, with its spread.

Mean and log-variance heads, Gaussian NLL (goes below zero once the spread
is learned). AdamW with linear warmup from exactly 0 and cosine decay.
The run is split in two sessions: session 1 writes a checkpoint
(float32 weights + optimizer state + json meta) and exits its objects;
session 2 rebuilds everything from disk and carries on at the saved step.
At the end the weights are exported as bfloat16 safetensors and reloaded.
"""
import json
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_TRAIN, N_VAL = 4000, 1000
BATCH = 100
EPOCHS = 24
SPLIT_AT = 10           # epochs done in session 1
PEAK_LR = 3e-3
WARMUP = 120            # optimizer steps
STEPS_PER_EPOCH = N_TRAIN // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH

FEATS = ["sun_elev", "ground_albedo", "wind_ms", "glider_load", "alt_agl", "lapse", "hour_sin"]


def make_data(rng, n):
    x = rng.normal(size=(n, len(FEATS))).astype(np.float32)
    sun, alb, wind, load, alt, lapse, hour = x.T
    mean = (1.4 + 0.8 * np.tanh(sun + 0.5 * alb) - 0.35 * wind ** 2 * 0.5
            + 0.3 * load + 0.5 * lapse * (alt > -0.5) + 0.25 * np.sin(2.0 * hour))
    sd = 0.04 + 0.22 * (1.0 / (1.0 + np.exp(-(wind + 0.5 * alt))))
    y = mean + sd * rng.normal(size=n)
    return x, y.astype(np.float32)[:, None]


class ClimbNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.mu = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)


def gauss_nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 / mx.exp(lv)) + 0.5 * math.log(2 * math.pi))


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    cos = optim.cosine_decay(PEAK_LR, TOTAL - WARMUP, end=PEAK_LR * 0.02)
    return optim.join_schedules([warm, cos], [WARMUP])


def evaluate(model, x, y, ystd, ymean):
    mu, lv = model(x)
    nll = gauss_nll(model, x, y)
    rmse = mx.sqrt(mx.mean((mu - y) ** 2)) * ystd
    inside = mx.mean((mx.abs(mu - y) <= 1.645 * mx.exp(0.5 * lv)).astype(mx.float32))
    mx.eval(nll, rmse, inside)
    return nll.item(), rmse.item(), inside.item()


def run_epochs(model, opt, xtr, ytr, xva, yva, ystd, ymean, first, last, rng):
    lossgrad = nn.value_and_grad(model, gauss_nll)
    for ep in range(first, last):
        perm = rng.permutation(N_TRAIN)
        tot = 0.0
        for i in range(STEPS_PER_EPOCH):
            idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
            loss, grads = lossgrad(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vnll, vrmse, cover = evaluate(model, xva, yva, ystd, ymean)
        lr_now = opt.learning_rate.item()
        print(f"epoch {ep + 1:2d} step {opt.state['step'].item():4d} lr {lr_now:.2e} "
              f"train_nll {tot / STEPS_PER_EPOCH:+.4f} val_nll {vnll:+.4f} "
              f"val_rmse {vrmse:.3f} m/s  90%-band cover {cover:.3f}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xtr_np, ytr_np = make_data(rng, N_TRAIN)
    xva_np, yva_np = make_data(rng, N_VAL)
    xm, xs = xtr_np.mean(0), xtr_np.std(0)
    ymean, ystd = float(ytr_np.mean()), float(ytr_np.std())
    xtr = mx.array((xtr_np - xm) / xs)
    xva = mx.array((xva_np - xm) / xs)
    ytr = mx.array((ytr_np - ymean) / ystd)
    yva = mx.array((yva_np - ymean) / ystd)

    base_rmse = float(np.sqrt(np.mean((yva_np - ymean) ** 2)))
    print(f"baseline (train mean {ymean:.3f} m/s) val_rmse {base_rmse:.3f} m/s")

    ckdir = tempfile.mkdtemp()
    w_path = os.path.join(ckdir, "weights.safetensors")
    o_path = os.path.join(ckdir, "optimizer.safetensors")
    m_path = os.path.join(ckdir, "meta.json")

    # ---- session 1 ----
    mx.random.seed(SEED)
    model = ClimbNet(len(FEATS))
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    mx.eval(model.parameters())
    print(f"session 1: first lr {make_schedule()(mx.array(0)).item():.1e}")
    run_epochs(model, opt, xtr, ytr, xva, yva, ystd, ymean, 0, SPLIT_AT, rng)
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    before = evaluate(model, xva, yva, ystd, ymean)
    with open(m_path, "w") as f:
        json.dump({"epoch": SPLIT_AT, "rng": rng.bit_generator.state,
                   "val_nll": before[0]}, f)
    print(f"checkpoint written to {ckdir} (step {opt.state['step'].item()})")
    del model, opt

    # ---- session 2 ----
    with open(m_path) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    mx.random.seed(SEED + 1)
    model = ClimbNet(len(FEATS))
    model.load_weights(w_path)
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, xva, yva, ystd, ymean)
    print(f"session 2: resumed at epoch {meta['epoch']} step {opt.state['step'].item()} "
          f"val_nll saved {meta['val_nll']:+.4f} reloaded {after[0]:+.4f}")
    run_epochs(model, opt, xtr, ytr, xva, yva, ystd, ymean, meta["epoch"], EPOCHS, rng)

    # ---- export in bfloat16 and reload ----
    final32 = evaluate(model, xva, yva, ystd, ymean)
    export = {k: v.astype(mx.bfloat16) for k, v in tree_flatten(model.parameters())}
    e_path = os.path.join(ckdir, "climbnet_bf16.safetensors")
    mx.save_safetensors(e_path, export, metadata={"format": "mlx", "dtype": "bfloat16"})
    served = ClimbNet(len(FEATS))
    served.load_weights(e_path)
    served.set_dtype(mx.float32)
    final16 = evaluate(served, xva, yva, ystd, ymean)
    size_kb = os.path.getsize(e_path) / 1024
    print(f"final float32  val_nll {final32[0]:+.4f} val_rmse {final32[1]:.3f} cover {final32[2]:.3f}")
    print(f"export bf16 ({size_kb:.1f} KB) val_nll {final16[0]:+.4f} val_rmse {final16[1]:.3f} cover {final16[2]:.3f}")
    print(f"baseline val_rmse {base_rmse:.3f} m/s | model/baseline {final32[1] / base_rmse:.3f}")
    shutil.rmtree(ckdir)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
