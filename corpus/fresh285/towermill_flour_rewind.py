"""Tower windmill: flour output (kg/h) from the miller's shift readings.

The readings come as transcribed log sheets of 64 rows.  A few sheets were
typed in another unit.  Training keeps a snapshot on disk every 100 steps;
when a batch loss jumps far above its running average the trainer rewinds to
the last snapshot, puts that sheet on a block list and replays from there.
Rows are written for a spreadsheet with a continental locale (';' separated,
decimal comma).
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SHEET = 64
TOTAL_STEPS = 3000
WARMUP = 200
SNAP_EVERY = 100
LOG_EVERY = 100


def eu(v, nd=4):
    return f"{v:.{nd}f}".replace(".", ",")


def row(*cells):
    print(";".join(str(c) for c in cells), flush=True)


def shift_readings(n, rng):
    wind = rng.gamma(4.0, 1.6, n)              # m/s
    gust = rng.uniform(1.0, 1.8, n)
    reef = rng.uniform(0.0, 1.0, n)            # share of sail cloth set
    gap = rng.normal(1.2, 0.25, n)             # stone gap mm
    moist = rng.normal(14.0, 1.5, n)           # grain moisture %
    hoist = rng.uniform(0.0, 1.0, n)           # sack hoist engaged share
    yaw = np.abs(rng.normal(0.0, 12.0, n))     # cap off the wind, degrees
    eff = np.clip(wind - 2.5, 0, None) ** 1.5 * (0.3 + 0.7 * reef) * np.cos(np.radians(yaw))
    eff = np.minimum(eff, 55.0) / gust ** 0.5
    kg = (8.0 * eff * np.exp(-((gap - 1.1) / 0.6) ** 2) * (1 - 0.04 * (moist - 14))
          - 12.0 * hoist + rng.normal(0, 9.0, n))
    kg = np.maximum(kg, 0.0)
    x = np.stack([wind, gust, reef, gap, moist, hoist, yaw], 1)
    return x.astype(np.float32), kg.astype(np.float32)


class MillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x))))).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    x, kg = shift_readings(12000 + 2000, rng)
    xtr, ytr_kg, xva, yva_kg = x[:12000], kg[:12000].copy(), x[12000:], kg[12000:]
    n_sheets = 12000 // SHEET
    odd_sheets = rng.choice(n_sheets, size=3, replace=False)
    for s in odd_sheets:                        # shift totals typed into the per-hour column
        ytr_kg[s * SHEET:(s + 1) * SHEET] *= 40.0
    mu, sd = xtr.mean(0), xtr.std(0)
    clean = np.ones(12000, bool)
    for s in odd_sheets:
        clean[s * SHEET:(s + 1) * SHEET] = False
    ym, ys = ytr_kg[clean].mean(), ytr_kg[clean].std()   # miller's reference from checked sheets
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    ytr = (ytr_kg - ym) / ys
    xva_m = mx.array(xva)

    row("kind", "step", "lr", "train_mse_ema", "val_rmse_kg_h", "note")
    base = float(np.sqrt(np.mean((yva_kg - ym) ** 2)))
    row("reference", 0, eu(0.0, 6), "", eu(base, 2), "predict the mean output")

    mx.random.seed(3)
    model = MillNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARMUP),
         optim.cosine_decay(3e-3, TOTAL_STEPS - WARMUP, 1e-5)], [WARMUP])
    opt = optim.Adam(learning_rate=sched)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    vg = nn.value_and_grad(model, mse)

    snapdir = tempfile.mkdtemp("_mill")
    blocked = set()

    def sheet_order(epoch):
        return np.random.default_rng(1000 + epoch).permutation(n_sheets)

    def val_rmse():
        pred = np.array(model(xva_m)) * ys + ym
        return float(np.sqrt(np.mean((pred - yva_kg) ** 2)))

    def snapshot(step, epoch, pos, ema):
        model.save_weights(os.path.join(snapdir, "mill.safetensors"))
        mx.save_safetensors(os.path.join(snapdir, "adam.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(snapdir, "where.json"), "w") as f:
            json.dump({"step": step, "epoch": epoch, "pos": pos, "ema": ema}, f)

    def rewind():
        model.load_weights(os.path.join(snapdir, "mill.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(snapdir, "adam.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        with open(os.path.join(snapdir, "where.json")) as f:
            w = json.load(f)
        return w["step"], w["epoch"], w["pos"], w["ema"]

    step, epoch, pos, ema = 0, 0, 0, 1.0
    order = sheet_order(epoch)
    snapshot(step, epoch, pos, ema)
    rewinds = 0
    while step < TOTAL_STEPS:
        if pos >= n_sheets:
            epoch, pos = epoch + 1, 0
            order = sheet_order(epoch)
            continue
        sheet = int(order[pos])
        pos += 1
        if sheet in blocked:
            continue
        sl = slice(sheet * SHEET, (sheet + 1) * SHEET)
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, mx.array(xtr[sl]), mx.array(ytr[sl]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        lv = loss.item()
        if lv > 10.0 * ema and lv > 0.5:
            row("spike", step, eu(lr_now, 6), eu(ema), "", f"sheet {sheet} batch mse {eu(lv, 1)}")
            blocked.add(sheet)
            step, epoch, pos, ema = rewind()
            order = sheet_order(epoch)
            rewinds += 1
            row("rewind", step, eu(opt.learning_rate.item(), 6), eu(ema), eu(val_rmse(), 2),
                f"back to snapshot, sheet {sheet} blocked")
            continue
        ema = 0.95 * ema + 0.05 * lv
        if step % SNAP_EVERY == 0:
            snapshot(step, epoch, pos, ema)
        if step % LOG_EVERY == 0 or step == 1:
            row("train", step, eu(lr_now, 6), eu(ema), eu(val_rmse(), 2), "")

    row("done", step, "", eu(ema), eu(val_rmse(), 2),
        f"rewinds {rewinds}; blocked sheets {sorted(blocked)}; {eu(time.time() - t0, 1)} s")
    shutil.rmtree(snapdir)


if __name__ == "__main__":
    main()
