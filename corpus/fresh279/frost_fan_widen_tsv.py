"""Vineyard frost fans: predict tomorrow's minimum canopy temperature (deg C) from six
evening readings, so the fans can be scheduled.

Season 1 trains a narrow net and stores a compact checkpoint (weights and AdamW moments
kept as float16 to fit the controller's flash). Season 2 loads it on the office machine,
WIDENS both hidden layers 32 -> 64 in a function-preserving way (new units get zero
outgoing weights, moments zero-padded) and keeps training with a fresh warm-up from lr 0.
Output is tab-separated.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FEATS = ["air_18h", "dewpoint", "cloud_okta", "wind_ms", "soil_moist", "slope_deg"]


def readings(n, rng):
    air = rng.normal(9, 4, n)
    dew = air - rng.gamma(2.0, 2.0, n)
    cloud = rng.integers(0, 9, n).astype(float)
    wind = rng.gamma(2.0, 1.0, n)
    soil = rng.uniform(0.1, 0.45, n)
    slope = rng.uniform(0, 15, n)
    clear = (8 - cloud) / 8
    tmin = (0.55 * air + 0.35 * dew - 4.5 * clear * np.exp(-0.45 * wind)
            + 6 * soil - 0.08 * (slope - 7) ** 2 * clear + 1.2 * np.sin(dew / 2))
    tmin = tmin + rng.normal(0, 0.6, n)
    x = np.stack([air, dew, cloud, wind, soil, slope], 1).astype(np.float32)
    return x, tmin.astype(np.float32)


class FanNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.l1 = nn.Linear(6, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def sched(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-4)], [warm])


def row(*cols):
    print("\t".join(str(c) for c in cols), flush=True)


def widen(model, opt_state, new_w, key):
    """Function-preserving widening of both hidden layers; AdamW moments zero-padded."""
    old = model.l1.weight.shape[0]
    k1, k2 = mx.random.split(key)
    big = FanNet(new_w)
    p = dict(tree_flatten(model.parameters()))
    s = 0.3 / 6 ** 0.5
    new = {
        "l1.weight": mx.concatenate([p["l1.weight"], s * mx.random.normal((new_w - old, 6), key=k1)], axis=0),
        "l1.bias": mx.concatenate([p["l1.bias"], mx.zeros((new_w - old,))]),
        "l2.weight": mx.concatenate([
            mx.concatenate([p["l2.weight"], mx.zeros((old, new_w - old))], axis=1),
            mx.concatenate([(0.3 / new_w ** 0.5) * mx.random.normal((new_w - old, old), key=k2),
                            mx.zeros((new_w - old, new_w - old))], 1)], axis=0),
        "l2.bias": mx.concatenate([p["l2.bias"], mx.zeros((new_w - old,))]),
        "out.weight": mx.concatenate([p["out.weight"], mx.zeros((1, new_w - old))], axis=1),
        "out.bias": p["out.bias"],
    }
    big.load_weights(list(new.items()))

    def pad(name, a):
        target = new[name.rsplit(".", 1)[0]].shape
        z = mx.zeros(target, dtype=mx.float32)
        sl = tuple(slice(0, d) for d in a.shape)
        return z.at[sl].add(a) if a.ndim else a

    st = {k: (pad(k, v) if k not in ("step", "learning_rate") else v) for k, v in opt_state.items()}
    return big, st


def main():
    rng = np.random.default_rng(11)
    xtr, ytr = readings(8000, rng)
    xva, yva = readings(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    ymu = float(ytr.mean())
    Xtr, Ytr, Xva, Yva = mx.array(xtr), mx.array(ytr - ymu), mx.array(xva), mx.array(yva - ymu)
    base = float(np.sqrt(((yva - ymu) ** 2).mean()))
    row("#", "features", ",".join(FEATS), "train", len(xtr), "valid", len(xva))
    row("#", "climatology_rmse_C", f"{base:.3f}", "sensor_noise_C", "0.600")
    row("season", "step", "width", "lr", "batch_mse", "valid_rmse_C", "sec")

    t0 = time.perf_counter()
    mx.random.seed(3)
    model = FanNet(32)
    steps1, bs = 800, 128
    opt = optim.AdamW(learning_rate=sched(4e-3, 30, steps1), weight_decay=1e-4)
    lg = nn.value_and_grad(model, mse)

    def vrmse(m):
        return float(mx.sqrt(mse(m, Xva, Yva)).item())

    row(1, 0, 32, "0.00000", "-", f"{vrmse(model):.3f}", f"{time.perf_counter() - t0:.1f}")
    for step in range(1, steps1 + 1):
        idx = mx.array(np.random.default_rng(step).integers(0, len(xtr), bs))
        lr = float(opt.learning_rate.item()) if step > 1 else 0.0
        loss, g = lg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0:
            row(1, step, 32, f"{lr:.5f}", f"{loss.item():.4f}", f"{vrmse(model):.3f}",
                f"{time.perf_counter() - t0:.1f}")

    ck = tempfile.TemporaryDirectory()
    wpath = os.path.join(ck.name, "fan_w16.safetensors")
    opath = os.path.join(ck.name, "fan_opt16.safetensors")
    mx.save_safetensors(wpath, {k: v.astype(mx.float16) for k, v in tree_flatten(model.parameters())})
    mx.save_safetensors(opath, {k: (v.astype(mx.float16) if v.ndim else v)
                                for k, v in tree_flatten(opt.state)})
    with open(os.path.join(ck.name, "meta.json"), "w") as f:
        json.dump({"season": 1, "step": steps1, "width": 32, "ymu": ymu}, f)
    fp32_rmse = vrmse(model)
    kib = (os.path.getsize(wpath) + os.path.getsize(opath)) / 1024
    row("#", "checkpoint", "float16", f"{kib:.1f}KiB", "valid_rmse_fp32", f"{fp32_rmse:.4f}")
    del model, opt, lg

    with open(os.path.join(ck.name, "meta.json")) as f:
        meta = json.load(f)
    narrow = FanNet(meta["width"])
    narrow.load_weights([(k, v.astype(mx.float32)) for k, v in mx.load(wpath).items()])
    ostate = {k: (v.astype(mx.float32) if v.ndim else v) for k, v in mx.load(opath).items()}
    ck.cleanup()
    r16 = vrmse(narrow)
    row("#", "reloaded_from_float16", "valid_rmse", f"{r16:.4f}", "delta_vs_fp32", f"{r16 - fp32_rmse:+.1e}")

    model, flat_state = widen(narrow, ostate, 64, mx.random.key(21))
    pred_gap = float(mx.abs(model(Xva) - narrow(Xva)).max().item())
    n_before = sum(v.size for _, v in tree_flatten(narrow.parameters()))
    n_after = sum(v.size for _, v in tree_flatten(model.parameters()))
    row("#", "widened", "params", f"{n_before}->{n_after}", "max_pred_gap_C", f"{pred_gap:.1e}")

    steps2 = 800
    opt = optim.AdamW(learning_rate=sched(2e-3, 40, steps2), weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    state = tree_unflatten(list(flat_state.items()))
    state["step"] = mx.array(0, dtype=mx.uint64)
    state["learning_rate"] = opt.state["learning_rate"]
    opt.state = state
    lg = nn.value_and_grad(model, mse)
    before_l1 = np.array(model.l1.weight[32:])
    for s in range(1, steps2 + 1):
        step = meta["step"] + s
        idx = mx.array(np.random.default_rng(step).integers(0, len(xtr), bs))
        lr = float(opt.learning_rate.item()) if s > 1 else 0.0
        loss, g = lg(model, Xtr[idx], Ytr[idx])
        if s == 2:
            gnew = float(mx.abs(g["l1"]["weight"][32:]).max().item())
            row("#", "step2_grad_new_units_l1", f"{gnew:.1e}", "(zero outgoing weights until the first nonzero lr step)")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if s % 100 == 0:
            row(2, step, 64, f"{lr:.5f}", f"{loss.item():.4f}", f"{vrmse(model):.3f}",
                f"{time.perf_counter() - t0:.1f}")
    moved = float(np.abs(np.array(model.l1.weight[32:]) - before_l1).max())
    final = vrmse(model)
    row("#", "done", "valid_rmse_C", f"{final:.3f}", "climatology", f"{base:.3f}",
        "noise_floor", "0.600", "new_units_moved", f"{moved:.3f}")


if __name__ == "__main__":
    main()
