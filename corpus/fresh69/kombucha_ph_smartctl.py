# Kombucha: final pH after a primary ferment, from the brew sheet. Hand-written Adam on a dict MLP.
import time
import math
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

rs = np.random.default_rng(2024)


def brew(n):
    starter = rs.uniform(0.05, 0.25, n)      # fraction of starter liquid
    sugar = rs.uniform(40, 120, n)           # g/L
    temp = rs.uniform(18, 30, n)             # C
    days = rs.uniform(3, 21, n)
    tea = rs.integers(0, 3, n)               # black / green / oolong
    rate = 0.045 * np.exp(0.07 * (temp - 24)) * (1 + 2.5 * starter) * np.array([1.0, 0.8, 0.9])[tea]
    acid = np.log1p(rate * days * sugar / 60)
    ph = 4.6 - 1.35 * acid - 1.2 * starter + 0.05 * (tea == 1) + rs.normal(0, 0.04, n)
    X = np.stack([(starter - 0.15) / 0.06, (sugar - 80) / 23, (temp - 24) / 3.5, (days - 12) / 5.2,
                  tea == 0, tea == 1, tea == 2], 1).astype(np.float32)
    return X, ph.astype(np.float32)


Xtr, ytr = brew(16000)
Xte, yte = brew(1000)
mu, sd = float(ytr.mean()), float(ytr.std())


def init(sizes):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"W{i}"] = mx.array(rs.normal(0, math.sqrt(2.0 / a), (a, b)).astype(np.float32))
        p[f"b{i}"] = mx.zeros((b,))
    return p


def forward(p, x):
    h = mx.maximum(x @ p["W0"] + p["b0"], 0.01 * (x @ p["W0"] + p["b0"]))
    h = mx.maximum(h @ p["W1"] + p["b1"], 0.01 * (h @ p["W1"] + p["b1"]))
    return (h @ p["W2"] + p["b2"]).squeeze(-1)


def loss(p, x, y):
    return mx.mean((forward(p, x) - (y - mu) / sd) ** 2)


params = init([7, 40, 40, 1])
m_state = tree_map(mx.zeros_like, params)
v_state = tree_map(mx.zeros_like, params)
grad_fn = mx.value_and_grad(loss)

l0, g0 = grad_fn(params, mx.array(Xtr[:100]), mx.array(ytr[:100]))
zero_leaves = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0]


@mx.compile
def step(p, m, v, x, y, lr, t):
    l, g = grad_fn(p, x, y)
    m = tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
    v = tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
    c1 = 1 - 0.9 ** t
    c2 = 1 - 0.999 ** t
    p = tree_map(lambda w, a, b: w - lr * (a / c1) / (mx.sqrt(b / c2) + 1e-8), p, m, v)
    return l, p, m, v


def test_metrics(p):
    pred = np.array(forward(p, mx.array(Xte))) * sd + mu
    err = np.abs(pred - yte)
    return float(np.sqrt(np.mean((pred - yte) ** 2))), float(err.mean()), float(np.mean(err < 0.1))


base_rmse = float(np.sqrt(np.mean((yte - mu) ** 2)))
t0 = time.time()
hist = []
t = 0
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
for ep in range(25):
    order = mx.array(rs.permutation(len(Xtr)))
    tot = 0.0
    nb = 0
    lr = 3e-3 if ep < 15 else 1e-3
    for i in range(0, len(Xtr), 100):
        t += 1
        idx = order[i:i + 100]
        l, params, m_state, v_state = step(params, m_state, v_state, Xtr_m[idx], ytr_m[idx],
                                           mx.array(lr), mx.array(float(t)))
        mx.eval(l, params, m_state, v_state)
        tot += float(l)
        nb += 1
    hist.append((ep + 1, tot / nb) + test_metrics(params) + (lr, time.time() - t0))

# ---- report: smartctl -A style ----
print("smartctl 7.4 2023-08-01 r5530 [aarch64-darwin] (local build)")
print("Copyright (C) 2002-23, Bruce Allen, Christian Franke, www.smartmontools.org")
print()
print("=== START OF INFORMATION SECTION ===")
print(f"Device Model:     KOMBUCHA-PH-MLP 7-40-40-1")
print(f"Serial Number:    BREW{len(Xtr):06d}T{len(Xte):05d}")
print(f"Firmware Version: handAdam-0.9/0.999")
print(f"Gradient Check:   {len(tree_flatten(g0))} leaves, {len(zero_leaves)} zero, loss0 {float(l0):.4f}")
print(f"Baseline:         predict-mean test RMSE {base_rmse:.4f} pH")
print()
print("=== START OF READ SMART DATA SECTION ===")
print("SMART Attributes Data Structure revision number: 16")
print("ID# ATTRIBUTE_NAME          FLAG     VALUE WORST THRESH TYPE      UPDATED  WHEN_FAILED RAW_VALUE")
worst = 100
for ep, tr, rmse, mae, within, lr, el in hist:
    value = max(1, int(round(100 * (1 - rmse / base_rmse))))
    worst = min(worst, value)
    fail = "-" if rmse < 0.1 else "FAILING_NOW"
    print(f"{ep:3d} Epoch_{ep:02d}_pH_Fit        0x002f   {value:03d}   {worst:03d}   050    Pre-fail  Always   {fail:11s} "
          f"train_mse_std={tr:.4f} test_rmse={rmse:.4f} test_mae={mae:.4f} within_0.1pH={within:.3f} lr={lr:g} t={el:.1f}s")
print()
print("SMART overall-health self-assessment test result:", "PASSED" if hist[-1][2] < 0.1 else "FAILED")
for s, su, te, d, tea in [(0.10, 60, 22, 7, 0), (0.20, 100, 27, 14, 1), (0.15, 80, 24, 10, 2)]:
    x = np.array([[(s - 0.15) / 0.06, (su - 80) / 23, (te - 24) / 3.5, (d - 12) / 5.2,
                   tea == 0, tea == 1, tea == 2]], np.float32)
    print(f"# probe starter={s:.2f} sugar={su}g/L temp={te}C days={d} tea={tea}: "
          f"pH {float(forward(params, mx.array(x))[0]) * sd + mu:.2f}")
