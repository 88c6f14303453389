"""Ice-rink resurfacing: will the sheet be 'hard', 'fast-soft' or 'slushy' 20 minutes
after the resurfacer pass?  Pure-function MLP (params in a dict), forward in bfloat16
with float32 master weights, hand-written heavy-ball SGD inside an mx.compile'd step.

Step 0 is a learning-rate range test on a throw-away copy of the weights: the lr is
swept exponentially until the loss blows up (by design), the lr at the smoothed-loss
minimum / 10 is kept, and the real run starts again from freshly drawn weights.
"""
import math
import time

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map

CLASSES = ("hard", "fast-soft", "slushy")


def make_passes(n, rng):
    water_temp = rng.uniform(40, 70, n)          # deg C of the flood water
    water_l = rng.uniform(300, 700, n)           # litres laid down
    slab_temp = rng.normal(-6.0, 1.5, n)         # brine slab, deg C
    air_temp = rng.normal(12.0, 4.0, n)          # arena air
    humidity = rng.uniform(30, 85, n)            # %
    skaters = rng.poisson(40, n).astype(float)   # skaters on the previous session
    heat = (0.02 * (water_temp - 55) + 0.004 * (water_l - 500) + 0.55 * (slab_temp + 6)
            + 0.08 * (air_temp - 12) + 0.03 * (humidity - 55) + 0.015 * (skaters - 40))
    heat += 0.35 * rng.logistic(size=n)
    y = np.digitize(heat, [-0.35, 0.55])
    X = np.stack([water_temp / 10, water_l / 100, slab_temp, air_temp / 4, humidity / 10,
                  np.sqrt(skaters)], 1)
    return X.astype(np.float32), y.astype(np.int32)


def init_params(key, sizes):
    params = {}
    keys = mx.random.split(key, len(sizes) - 1)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"w{i}"] = mx.random.normal((a, b), key=keys[i]) * math.sqrt(2.0 / a)
        params[f"b{i}"] = mx.zeros((b,))
    return params


def forward(params, x):
    p = tree_map(lambda a: a.astype(mx.bfloat16), params)   # bf16 compute copy
    h = x.astype(mx.bfloat16)
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ p[f"w{i}"] + p[f"b{i}"]
        if i < n_layers - 1:
            h = mx.maximum(h, 0)
    return h.astype(mx.float32)


def loss_fn(params, x, y):
    logits = forward(params, x)
    return mx.mean(mx.logsumexp(logits, axis=-1) - mx.take_along_axis(logits, y[:, None], -1)[:, 0])


grad_fn = mx.value_and_grad(loss_fn)


@mx.compile
def sgd_step(params, vel, x, y, lr):
    loss, g = grad_fn(params, x, y)
    vel = tree_map(lambda v, gi: 0.9 * v + gi, vel, g)
    params = tree_map(lambda w, v: w - lr * v, params, vel)
    return params, vel, loss


def lr_range_test(Xt, yt, sizes, rng, lo=1e-4, hi=30.0, n=120, bs=128):
    params = init_params(mx.random.key(99), sizes)
    vel = tree_map(mx.zeros_like, params)
    lrs = np.exp(np.linspace(np.log(lo), np.log(hi), n))
    smooth, best, best_lr, hist = 0.0, float("inf"), lo, []
    for i, lr in enumerate(lrs):
        idx = mx.array(rng.integers(0, Xt.shape[0], bs))
        params, vel, loss = sgd_step(params, vel, Xt[idx], yt[idx], mx.array(lr, mx.float32))
        mx.eval(params, vel, loss)
        l = loss.item()
        smooth = 0.9 * smooth + 0.1 * l if i else l
        hist.append((lr, smooth))
        if smooth < best:
            best, best_lr = smooth, lr
        if not math.isfinite(smooth) or smooth > 4 * best:
            break
    return best_lr, hist


def accuracy(params, X, y):
    pred = mx.argmax(forward(params, X), axis=-1)
    return mx.mean((pred == y).astype(mx.float32)).item()


def main():
    rng = np.random.default_rng(11)
    Xtr, ytr = make_passes(12000, rng)
    Xte, yte = make_passes(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xt, Xv = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
    yt, yv = mx.array(ytr), mx.array(yte)
    sizes = [6, 64, 64, 3]
    print("class shares (train):", {c: round(float((ytr == k).mean()), 3) for k, c in enumerate(CLASSES)})

    t0 = time.time()
    best_lr, hist = lr_range_test(Xt, yt, sizes, rng)
    print("lr range test (%d steps, %.1fs):" % (len(hist), time.time() - t0))
    for lr, l in hist[:: max(1, len(hist) // 8)] + [hist[-1]]:
        print("   lr %9.2e   smoothed ce %8.4f" % (lr, l))
    lr = best_lr / 10
    print("min at lr %.2e -> training with lr %.2e from fresh weights" % (best_lr, lr))

    params = init_params(mx.random.key(7), sizes)
    vel = tree_map(mx.zeros_like, params)
    _, g0 = grad_fn(params, Xt[:128], yt[:128])
    zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
    print("grad leaves: %d, all-zero: %s, dtypes: %s" % (
        len(tree_flatten(g0)), zero or "none", sorted({str(v.dtype) for _, v in tree_flatten(g0)})))

    bs, epochs = 128, 10
    steps_per_epoch = Xt.shape[0] // bs
    lr_arr = mx.array(lr, mx.float32)
    print("%5s %9s %9s %9s %8s" % ("epoch", "train_ce", "val_ce", "val_acc", "secs"))
    for ep in range(1, epochs + 1):
        perm = rng.permutation(Xt.shape[0])
        run = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(perm[s * bs:(s + 1) * bs])
            params, vel, loss = sgd_step(params, vel, Xt[idx], yt[idx], lr_arr)
            mx.eval(params, vel, loss)
            run += loss.item()
        vce = loss_fn(params, Xv, yv).item()
        print("%5d %9.4f %9.4f %8.2f%% %8.1f" % (ep, run / steps_per_epoch, vce,
                                                100 * accuracy(params, Xv, yv), time.time() - t0))
    print("master dtype:", params["w0"].dtype, " majority-class baseline: %.2f%%" %
          (100 * max(float((yte == k).mean()) for k in range(3))))


if __name__ == "__main__":
    main()
