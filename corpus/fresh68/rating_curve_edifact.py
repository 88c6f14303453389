"""Stream-gauge rating curve fit: Q = a * (h - h0)^b  times a small learned
hysteresis correction from the stage rate of change (rising vs falling limb).
Parameters are a plain dict of raw arrays; pure loss, compiled step, Adam via
apply_gradients.  Silent while fitting; the report is an UN/EDIFACT interchange.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)


def gaugings(n):
    h = rng.uniform(0.45, 3.2, n)                 # stage (m)
    dh = rng.normal(0.0, 0.08, n)                 # stage change (m/h)
    q = 14.0 * (h - 0.32) ** 1.65 * np.sqrt(1.0 + 1.8 * dh)  # Jones-like loop
    q = q * rng.lognormal(0.0, 0.04, n)           # current-meter error 4%
    return h.astype(np.float32), (dh / 0.08).astype(np.float32), np.log(q).astype(np.float32)


h_tr, d_tr, lq_tr = gaugings(3000)
h_va, d_va, lq_va = gaugings(600)
H, D, LQ = mx.array(h_tr), mx.array(d_tr), mx.array(lq_tr)
Hv, Dv, LQv = mx.array(h_va), mx.array(d_va), mx.array(lq_va)

mx.random.seed(0)
params = {
    "log_a": mx.array(1.0),
    "b": mx.array(1.0),
    "raw_h0": mx.array(-1.0),            # h0 = 0.4 * sigmoid(raw_h0)
    "W1": mx.random.normal((2, 16)) * 0.5,
    "c1": mx.zeros((16,)),
    "W2": mx.random.normal((16, 1)) * 0.1,
}


def predict(p, h, d):
    h0 = 0.4 * mx.sigmoid(p["raw_h0"])
    base = p["log_a"] + p["b"] * mx.log(mx.maximum(h - h0, 1e-3))
    z = mx.tanh(mx.stack([d, h - 1.5], axis=1) @ p["W1"] + p["c1"])
    return base + (z @ p["W2"]).squeeze(-1)


def loss_fn(p, h, d, lq):
    r = predict(p, h, d) - lq
    return mx.mean(r * r)


opt = optim.Adam(learning_rate=0.02)
grad_fn = mx.value_and_grad(loss_fn)

l0, g0 = grad_fn(params, H[:128], D[:128], LQ[:128])
gflat = tree_flatten(g0)
nzero = sum(1 for _, g in gflat if float(mx.abs(g).max()) == 0.0)


@mx.compile
def step_grads(p, h, d, lq):
    return grad_fn(p, h, d, lq)


def val_metrics(p):
    r = predict(p, Hv, Dv) - LQv
    rmse_log = float(mx.sqrt(mx.mean(r * r)))
    pct = float(mx.mean(mx.abs(mx.exp(r) - 1.0))) * 100
    return rmse_log, pct


history = []
t0 = time.time()
ITERS, BS = 1500, 128
for it in range(1, ITERS + 1):
    idx = mx.array(rng.integers(0, len(h_tr), BS))
    loss, grads = step_grads(params, H[idx], D[idx], LQ[idx])
    params = opt.apply_gradients(grads, params)
    mx.eval(params, opt.state, loss)
    if it == 750:
        opt.learning_rate = 0.005
    if it in (1, 10, 50, 100, 250, 500, 750, 1000, 1250, 1500):
        vr, vp = val_metrics(params)
        history.append((it, float(loss), vr, vp, float(opt.learning_rate), time.time() - t0))

stamp = "261126:0800"
segs = ["UNA:+.? '", f"UNB+UNOC:3+GAUGE01+HYDROLAB+{stamp}+RC0001'",
        "UNH+1+QALITY:D:96A:UN'", "BGM+ZRC+RATING-CURVE-FIT+9'",
        f"FTX+AAI+++GRADCHECK LEAVES {len(gflat)} ZERO {nzero} LOSS0 {float(l0):.4f}'",
        f"QTY+ZTR:{len(h_tr)}'", f"QTY+ZVA:{len(h_va)}'"]
for it, lo, vr, vp, lr, el in history:
    segs.append(f"RFF+ITR:{it}'")
    segs.append(f"MEA+AAE+BMSE+LOG:{lo:.5f}'")
    segs.append(f"MEA+AAE+VRMSE+LOG:{vr:.5f}'")
    segs.append(f"MEA+AAE+VMAPE+PCT:{vp:.2f}'")
    segs.append(f"MEA+AAE+LR+NUM:{lr:.4f}'")
    segs.append(f"DTM+ZEL:{el:.2f}:SEC'")
h0 = 0.4 * float(mx.sigmoid(params['raw_h0']))
segs.append(f"FTX+AAI+++FIT A {float(mx.exp(params['log_a'])):.3f} B {float(params['b']):.3f} H0 {h0:.3f}'")
segs.append("FTX+AAI+++TRUE A 14.000 B 1.650 H0 0.320 NOISE 4.0 PCT'")
segs.append(f"UNT+{len(segs) - 1}+1'")
segs.append("UNZ+1+RC0001'")
print("\n".join(segs))
