"""Bell foundry: predict the tuning offsets (in cents) of four partials
(hum, prime, tierce, nominal) of a freshly cast bell from its profile.

Half-precision compute with float32 master weights.  The whole update,
including the dynamic loss scale and the skip of overflowing steps, lives
inside one compiled pure function.
"""
import math
import time

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map

PARTIALS = ["hum", "prime", "tierce", "nominal"]
NOISE_CENTS = 2.0
TOTAL_STEPS = 900
WARMUP = 80
PEAK_LR = 3e-3
FLOOR_LR = 3e-5
GROW_EVERY = 150


def cast_bells(rng, n):
    diam = rng.uniform(40, 160, n)
    bow = rng.uniform(0.065, 0.085, n)
    waist = rng.uniform(0.30, 0.45, n)
    shoulder = rng.uniform(0.8, 1.2, n)
    tin = rng.uniform(20, 24, n)
    pour = rng.uniform(1080, 1180, n)
    x = np.stack([diam, bow, waist, shoulder, tin, pour], 1)
    z = (x - x.mean(0)) / x.std(0)
    hum = 30 * np.tanh(z[:, 2] - 0.5 * z[:, 3]) + 6 * z[:, 1] * z[:, 0]
    prime = 18 * z[:, 1] - 9 * z[:, 3] ** 2 + 4 * z[:, 4]
    tierce = 25 * np.sin(0.9 * z[:, 2] + 0.4 * z[:, 1]) - 5 * z[:, 5]
    nominal = 12 * z[:, 0] * z[:, 3] + 10 * np.tanh(z[:, 4] - z[:, 1])
    y = np.stack([hum, prime, tierce, nominal], 1)
    y = y + NOISE_CENTS * rng.normal(size=y.shape)
    return x.astype(np.float32), y.astype(np.float32)


def init_params(key, sizes):
    params = []
    keys = mx.random.split(key, len(sizes) - 1)
    for k, (a, b) in zip(keys, zip(sizes[:-1], sizes[1:])):
        w = mx.random.normal((a, b), key=k) * math.sqrt(2.0 / a)
        params.append({"w": w, "b": mx.zeros((b,))})
    return params


def forward_half(params, x):
    h = x.astype(mx.float16)
    half = tree_map(lambda p: p.astype(mx.float16), params)
    for layer in half[:-1]:
        h = mx.sigmoid(1.702 * (h @ layer["w"] + layer["b"])) * (h @ layer["w"] + layer["b"])
    out = h @ half[-1]["w"] + half[-1]["b"]
    return out.astype(mx.float32)


def mse(params, x, y):
    return mx.mean(mx.square(forward_half(params, x) - y))


def scaled_loss(params, x, y, scale):
    return mse(params, x, y) * scale


grad_fn = mx.value_and_grad(scaled_loss)


def lr_at(step):
    s = step.astype(mx.float32)
    warm = s / WARMUP
    prog = mx.clip((s - WARMUP) / (TOTAL_STEPS - WARMUP), 0.0, 1.0)
    cos = FLOOR_LR + 0.5 * (PEAK_LR - FLOOR_LR) * (1 + mx.cos(math.pi * prog))
    return mx.where(s < WARMUP, PEAK_LR * warm, cos)


@mx.compile
def train_step(params, m, v, scale, clean, step, x, y):
    sloss, sgrads = grad_fn(params, x, y, scale)
    grads = tree_map(lambda g: g.astype(mx.float32) / scale, sgrads)
    finite = mx.array(True)
    for _, g in tree_flatten(grads):
        finite = finite & mx.all(mx.isfinite(g))
    lr = lr_at(step)
    t = (step + 1).astype(mx.float32)
    b1, b2, eps = 0.9, 0.999, 1e-8
    new_m = tree_map(lambda mm, g: b1 * mm + (1 - b1) * g, m, grads)
    new_v = tree_map(lambda vv, g: b2 * vv + (1 - b2) * g * g, v, grads)
    c1 = 1 - b1 ** t
    c2 = 1 - b2 ** t
    new_p = tree_map(
        lambda p, mm, vv: p - lr * (mm / c1) / (mx.sqrt(vv / c2) + eps), params, new_m, new_v
    )
    keep = lambda new, old: mx.where(finite, new, old)
    params = tree_map(keep, new_p, params)
    m = tree_map(keep, new_m, m)
    v = tree_map(keep, new_v, v)
    clean = mx.where(finite, clean + 1, 0)
    grow = clean >= GROW_EVERY
    scale = mx.where(finite, mx.where(grow, scale * 2, scale), scale / 2)
    clean = mx.where(grow, 0, clean)
    step = mx.where(finite, step + 1, step)
    return params, m, v, scale, clean, step, sloss / scale, finite, lr


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    xtr, ytr = cast_bells(rng, 12000)
    xva, yva = cast_bells(rng, 2000)
    xmu, xsd = xtr.mean(0), xtr.std(0)
    ymu, ysd = ytr.mean(0), ytr.std(0)

    def prep(x, y):
        return mx.array((x - xmu) / xsd), mx.array((y - ymu) / ysd)

    Xtr, Ytr = prep(xtr, ytr)
    Xva, Yva = prep(xva, yva)
    ysd_mx = mx.array(ysd)

    A = np.c_[xtr, np.ones(len(xtr))]
    coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
    base_mae = np.abs(np.c_[xva, np.ones(len(xva))] @ coef - yva).mean(0)

    params = init_params(mx.random.key(5), [6, 48, 48, 4])
    m = tree_map(mx.zeros_like, params)
    v = tree_map(mx.zeros_like, params)
    scale = mx.array(2.0 ** 24)
    clean = mx.array(0)
    step = mx.array(0)
    mx.eval(params, m, v)

    def val_mae():
        pred = forward_half(params, Xva)
        return (mx.abs(pred - Yva).mean(0) * ysd_mx).tolist()

    print(f"bells: {len(xtr)} train / {len(xva)} valid, noise floor {NOISE_CENTS:.1f} cents "
          f"(MAE ~ {NOISE_CENTS * math.sqrt(2 / math.pi):.2f})")
    print("rule-of-thumb (linear) MAE cents: "
          + "  ".join(f"{p}={b:.2f}" for p, b in zip(PARTIALS, base_mae)))
    print("untrained MAE cents:            "
          + "  ".join(f"{p}={b:.2f}" for p, b in zip(PARTIALS, val_mae())))
    print(f"{'attempt':>7} {'step':>5} {'lr':>9} {'scale':>7} {'skipped':>7} "
          f"{'train_mse':>9}  valid MAE cents (" + "/".join(PARTIALS) + ")")

    bs = 96
    order = rng.permutation(len(xtr))
    cursor = 0
    skipped = 0
    window = []
    attempt = 0
    while step.item() < TOTAL_STEPS:
        if cursor + bs > len(order):
            order = rng.permutation(len(xtr))
            cursor = 0
        idx = mx.array(order[cursor:cursor + bs])
        cursor += bs
        attempt += 1
        params, m, v, scale, clean, step, loss, ok, lr = train_step(
            params, m, v, scale, clean, step, Xtr[idx], Ytr[idx]
        )
        mx.eval(params, m, v, scale, clean, step, loss, ok, lr)
        if ok.item():
            window.append(loss.item())
        else:
            skipped += 1
        s = step.item()
        if (ok.item() and (s == 1 or s % 150 == 0)) or attempt <= 10:
            tr = float(np.mean(window)) if window else float("nan")
            mae = val_mae()
            print(f"{attempt:7d} {s:5d} {lr.item():9.2e} 2^{int(math.log2(scale.item())):<5d} "
                  f"{skipped:7d} {tr:9.4f}  " + " / ".join(f"{a:5.2f}" for a in mae))
            window = []

    mae = val_mae()
    print(f"done: {attempt} attempts, {skipped} skipped, final scale 2^{int(math.log2(scale.item()))}, "
          f"master dtype {params[0]['w'].dtype}, {time.time() - t0:.1f}s")
    print("valid MAE cents vs rule-of-thumb: "
          + "  ".join(f"{p} {a:.2f} (vs {b:.2f})" for p, a, b in zip(PARTIALS, mae, base_mae)))


if __name__ == "__main__":
    main()
