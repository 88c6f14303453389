"""Sauna stove controller: predict the bench-level temperature rise (deg C)
one minute after a ladle of water (loyly) is thrown on the stones.

bf16 compute with float32 master weights, Adam under SGDR-style warm
restarts (cosine cycles of 150 / 300 / 600 steps), results written as TOML.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

RNG = np.random.default_rng(2024)
COMPUTE = mx.bfloat16


def make_sessions(n):
    stone_t = RNG.uniform(180.0, 420.0, n)        # stone surface temperature
    air_t = RNG.uniform(60.0, 100.0, n)           # bench air temperature before
    ladle_dl = RNG.uniform(0.5, 4.0, n)           # ladle size in decilitres
    room_m3 = RNG.uniform(6.0, 25.0, n)           # room volume
    vent = RNG.integers(0, 3, n)                  # 0 closed, 1 half, 2 open
    stove = RNG.integers(0, 3, n)                 # 0 wood, 1 electric, 2 smoke
    rh = RNG.uniform(5.0, 40.0, n)                # relative humidity before
    # made-up physics-ish law: steam burst limited by stone heat, diluted by room
    steam = ladle_dl * np.clip((stone_t - 100.0) / 300.0, 0.05, 1.1)
    rise = 9.0 * steam / np.sqrt(room_m3) * (1.0 - 0.18 * vent)
    rise *= np.where(stove == 2, 1.25, np.where(stove == 1, 0.9, 1.0))
    rise *= 1.0 - 0.004 * (air_t - 60.0) - 0.006 * (rh - 5.0)
    rise += RNG.normal(0.0, 0.35, n)
    x = np.column_stack([
        stone_t, air_t, ladle_dl, room_m3, rh,
        np.eye(3)[vent], np.eye(3)[stove],
    ]).astype(np.float32)
    return x, rise.astype(np.float32)


class Bf16Linear(nn.Module):
    """Keeps float32 weights, multiplies in the compute dtype."""

    def __init__(self, d_in, d_out):
        super().__init__()
        scale = math.sqrt(1.0 / d_in)
        self.weight = mx.random.uniform(-scale, scale, (d_out, d_in))
        self.bias = mx.zeros((d_out,))

    def __call__(self, x):
        w = self.weight.astype(COMPUTE)
        b = self.bias.astype(COMPUTE)
        return x @ w.T + b


class LoylyNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = Bf16Linear(d_in, width)
        self.mid = Bf16Linear(width, width)
        self.out = Bf16Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x.astype(COMPUTE)))
        h = nn.silu(self.mid(h)) + h
        return self.out(h).squeeze(-1).astype(mx.float32)


def loss_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def sgdr(base_lr, floor, cycles):
    parts = [optim.cosine_decay(base_lr, c, floor) for c in cycles]
    bounds = list(np.cumsum(cycles[:-1]).tolist())
    return optim.join_schedules(parts, bounds)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, float):
        txt = f"{v:.6g}"
        return txt if any(c in txt for c in ".en") else txt + ".0"
    return str(v)


def toml_table(name, d, array=False):
    print(f"[[{name}]]" if array else f"[{name}]")
    for k, v in d.items():
        print(f"{k} = {toml_value(v)}")
    print()


def main():
    mx.random.seed(7)
    x_all, y_all = make_sessions(12000)
    x_tr, y_tr = x_all[:10000], y_all[:10000]
    x_va, y_va = x_all[10000:], y_all[10000:]
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    ymu, ysd = float(y_tr.mean()), float(y_tr.std())
    xs_tr = mx.array((x_tr - mu) / sd)
    ys_tr = mx.array((y_tr - ymu) / ysd)
    xs_va = mx.array((x_va - mu) / sd)

    cycles = [150, 300, 600]
    total = sum(cycles)
    batch = 64
    model = LoylyNet(x_tr.shape[1])
    opt = optim.Adam(learning_rate=sgdr(3e-3, 5e-5, cycles))
    grad_fn = nn.value_and_grad(model, loss_fn)

    toml_table("run", {
        "task": "loyly bench temperature rise",
        "train_sessions": int(len(y_tr)),
        "valid_sessions": int(len(y_va)),
        "target_sd_degC": round(ysd, 4),
        "compute_dtype": "bfloat16",
        "master_dtype": "float32",
        "cycles": str(cycles).replace(" ", ""),
    })

    # first-step audit: every float32 master leaf must get a non-zero gradient
    idx0 = mx.array(RNG.integers(0, len(y_tr), batch))
    _, g0 = grad_fn(model, xs_tr[idx0], ys_tr[idx0])
    leaves = tree_flatten(g0)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    dtypes = sorted({str(g.dtype) for _, g in leaves})
    toml_table("gradcheck", {
        "leaves": len(leaves),
        "zero_leaves": len(zero),
        "grad_dtypes": ",".join(dtypes),
        "ok": not zero,
    })
    if zero:
        raise SystemExit(f"dead leaves: {zero}")

    def validate():
        pred = np.array(model(xs_va)) * ysd + ymu
        err = pred - y_va
        return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err) < 0.5) * 100.0)

    rmse0, within0 = validate()
    toml_table("report", {"step": 0, "cycle": 0, "lr": 0.0,
                          "valid_rmse_degC": round(rmse0, 4),
                          "within_half_degree_pct": round(within0, 2)}, array=True)

    perm = RNG.permutation(len(y_tr))
    cursor = 0
    window = []
    t0 = time.perf_counter()
    boundaries = np.cumsum(cycles)
    for step in range(1, total + 1):
        if cursor + batch > len(perm):
            perm = RNG.permutation(len(y_tr))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + batch])
        cursor += batch
        lr_now = float(opt.learning_rate)
        loss, grads = grad_fn(model, xs_tr[idx], ys_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if step % 75 == 0:
            rmse, within = validate()
            cycle = int(np.searchsorted(boundaries, step - 1, side="right")) + 1
            toml_table("report", {
                "step": step,
                "cycle": cycle,
                "lr": lr_now,
                "train_mse_std_units": round(float(np.mean(window)), 5),
                "valid_rmse_degC": round(rmse, 4),
                "within_half_degree_pct": round(within, 2),
                "seconds": round(time.perf_counter() - t0, 2),
            }, array=True)
            window = []

    rmse, within = validate()
    toml_table("summary", {
        "steps": total,
        "valid_rmse_degC": round(rmse, 4),
        "within_half_degree_pct": round(within, 2),
        "noise_floor_degC": 0.35,
        "master_dtype_after": str(model.inp.weight.dtype),
    })


if __name__ == "__main__":
    main()
