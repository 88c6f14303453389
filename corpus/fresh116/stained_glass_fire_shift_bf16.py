"""Stained-glass studio: predict the colour shift (dL, da, db in CIELAB) that
a painted glass piece shows after kiln firing, from the paint recipe and the
firing schedule.

Mixed precision done by hand: float32 master weights live in a plain dict,
every forward pass casts them to bfloat16 inside the loss, so gradients come
back in float32 for the hand-written Adam (tree_map) update.  The hidden
activation is a tanh-GELU written as mx.custom_function with its own vjp.
The learning rate warms up from exactly 0.  One line per report using
self-documenting f-strings ({name=}).
"""
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

FEATURES = ["iron_oxide_pct", "copper_pct", "silver_stain_pct", "peak_c", "soak_min"]
C = math.sqrt(2.0 / math.pi)


@mx.custom_function
def gelu_t(x):
    return 0.5 * x * (1 + mx.tanh(C * (x + 0.044715 * x ** 3)))


@gelu_t.vjp
def gelu_t_vjp(x, cotangent, output):
    # single-input custom_function: primals and cotangent arrive as plain arrays
    u = C * (x + 0.044715 * x ** 3)
    t = mx.tanh(u)
    du = C * (1 + 3 * 0.044715 * x ** 2)
    d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    return cotangent * d


def simulate(n, rng):
    fe = rng.uniform(0, 6, n)
    cu = rng.uniform(0, 4, n)
    ag = rng.uniform(0, 3, n)
    peak = rng.uniform(560, 680, n)
    soak = rng.uniform(0, 30, n)
    heat = (peak - 560) / 120 + soak / 60
    dL = -1.2 * fe * heat - 0.8 * ag * heat ** 2 + 0.3 * cu
    da = 0.9 * fe * np.tanh(2 * heat) - 0.6 * cu
    db = 2.2 * ag * heat - 0.4 * cu * heat + 0.2 * fe
    x = np.stack([fe, cu, ag, peak, soak], 1)
    y = np.stack([dL, da, db], 1) + rng.normal(0, 0.15, (n, 3))
    return x.astype(np.float32), y.astype(np.float32)


def init_params(key_seed, sizes=(5, 64, 64, 3)):
    mx.random.seed(key_seed)
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"w{i}"] = mx.random.normal((a, b)) * math.sqrt(2.0 / a)
        p[f"b{i}"] = mx.zeros((b,))
    return p


def forward(p, x):
    h = x
    n = len(p) // 2
    for i in range(n):
        h = h @ p[f"w{i}"] + p[f"b{i}"]
        if i < n - 1:
            h = gelu_t(h)
    return h


def loss_fn(p32, x, y):
    p16 = tree_map(lambda a: a.astype(mx.bfloat16), p32)
    pred = forward(p16, x.astype(mx.bfloat16)).astype(mx.float32)
    return mx.mean(mx.sum((pred - y) ** 2, axis=1))


def lr_at(step, peak=3e-3, warm=200, total=3000):
    if step < warm:
        return peak * step / warm          # step 0 -> lr 0
    frac = (step - warm) / (total - warm)
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * frac))


class Adam:
    def __init__(self, params, b1=0.9, b2=0.999, eps=1e-8):
        self.m = tree_map(mx.zeros_like, params)
        self.v = tree_map(mx.zeros_like, params)
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0

    def step(self, params, grads, lr):
        self.t += 1
        b1, b2 = self.b1, self.b2
        self.m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, self.m, grads)
        self.v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, self.v, grads)
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        return tree_map(lambda p, m, v: p - lr * (m / c1) / (mx.sqrt(v / c2) + self.eps),
                        params, self.m, self.v)


def main():
    t0 = time.time()
    rng = np.random.default_rng(4)
    xtr, ytr = simulate(8000, rng)
    xva, yva = simulate(1500, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    # check the custom vjp against autodiff of the same formula
    z = mx.linspace(-3, 3, 13)
    ref = mx.grad(lambda a: mx.sum(0.5 * a * (1 + mx.tanh(C * (a + 0.044715 * a ** 3)))))(z)
    mine = mx.grad(lambda a: mx.sum(gelu_t(a)))(z)
    vjp_err = mx.max(mx.abs(ref - mine)).item()

    params = init_params(7)
    opt = Adam(params)
    vg = mx.value_and_grad(loss_fn)

    def val_delta_e():
        pred = forward(params, xva)  # float32 eval
        return mx.mean(mx.sqrt(mx.sum((pred - yva) ** 2, axis=1))).item()

    base_de = mx.mean(mx.sqrt(mx.sum((yva - mx.mean(ytr, axis=0)) ** 2, axis=1))).item()
    print(f"{len(FEATURES)=} train={xtr.shape[0]} val={xva.shape[0]} {vjp_err=:.2e} {base_de=:.3f}")

    l0, g0 = vg(params, xtr[:128], ytr[:128])
    gmax = {k: float(mx.max(mx.abs(v)).item()) for k, v in tree_flatten(g0)}
    zero_leaves = [k for k, v in gmax.items() if v == 0.0]
    dtypes = sorted({str(v.dtype) for _, v in tree_flatten(g0)})
    print(f"step=0 loss0={l0.item():.4f} leaves={len(gmax)} {zero_leaves=} grad_dtypes={dtypes} "
          f"val_dE={val_delta_e():.3f}")

    total, bs = 3000, 128
    perm, cur, run, cnt = rng.permutation(8000), 0, 0.0, 0
    for step in range(total):
        if cur + bs > len(perm):
            perm, cur = rng.permutation(8000), 0
        idx = mx.array(perm[cur:cur + bs])
        cur += bs
        lr = lr_at(step, total=total)
        loss, g = vg(params, xtr[idx], ytr[idx])
        params = opt.step(params, g, lr)
        mx.eval(params, opt.m, opt.v, loss)
        run += loss.item()
        cnt += 1
        if (step + 1) % 300 == 0:
            train_mse = run / cnt
            val_dE = val_delta_e()
            secs = time.time() - t0
            print(f"step={step + 1} {lr=:.2e} {train_mse=:.4f} {val_dE=:.3f} {secs=:.1f}")
            run, cnt = 0.0, 0

    assert all(v.dtype == mx.float32 for _, v in tree_flatten(params))
    print(f"done: master weights float32, val mean colour error {val_delta_e():.3f} dE units "
          f"(lower is better; predicting the mean gives {base_de:.3f})")


if __name__ == "__main__":
    main()
