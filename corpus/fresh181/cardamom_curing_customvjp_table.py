# Cardamom curing house: predict final capsule moisture (%) and the curing
# time (h) from the curing-house batch log.  Two-head MLP with a hand-written
# softplus (custom VJP), compiled train step, Adagrad.  A closed-form ridge
# fit is printed beside the network as a reference.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(181)


def curing_log(n):
    m0 = rng.uniform(74, 82, n)            # harvested capsule moisture %
    temp = rng.uniform(20, 34, n)          # air temp C
    rh = rng.uniform(45, 95, n)            # relative humidity %
    flow = rng.uniform(0.3, 1.6, n)        # air velocity m/s
    load = rng.uniform(18, 32, n)          # kg capsules / m2 of tray
    bud = rng.uniform(0.4, 0.9, n)         # bold-grade capsule fraction
    wet = (rng.uniform(size=n) < 0.25).astype(np.float64)  # rain-wet harvest
    es = 0.6108 * np.exp(17.27 * temp / (temp + 237.3))
    vpd = es * (1 - rh / 100)
    drive = vpd * np.sqrt(flow) / (load / 25.0)
    hours = 9 + 6 * wet + 14 * np.exp(-1.6 * drive) + 2.5 * (bud - 0.6) + rng.normal(0, 0.5, n)
    final = (m0 - 12 * (1 - np.exp(-0.9 * drive)) * (1 - 0.2 * wet) - 1.5 * bud
             + rng.normal(0, 0.4, n))
    X = np.stack([m0, temp, rh, flow, load, bud, wet], 1)
    Y = np.stack([final, hours], 1)
    return X, Y


Xtr, Ytr = curing_log(3072)
Xva, Yva = curing_log(768)
xm, xs = Xtr.mean(0), Xtr.std(0)
ym, ys = Ytr.mean(0), Ytr.std(0)
Xtr_n, Xva_n = (Xtr - xm) / xs, (Xva - xm) / xs
Ytr_n, Yva_n = (Ytr - ym) / ys, (Yva - ym) / ys

# reference: ridge regression on the same standardised inputs (+ squares)
def feats(x):
    return np.concatenate([x, x ** 2, np.ones((len(x), 1))], 1)
A = feats(Xtr_n)
W = np.linalg.solve(A.T @ A + 1e-2 * np.eye(A.shape[1]), A.T @ Ytr_n)
ridge_err = ((feats(Xva_n) @ W - Yva_n) ** 2).mean(0)
ridge_ref = float(ridge_err.sum())


@mx.custom_function
def soft_relu(x):
    return mx.logaddexp(x, 0.0)


@soft_relu.vjp
def soft_relu_vjp(x, cotangent, output):
    # single-input custom function: primals arrive as the array itself
    return cotangent * mx.sigmoid(x)


class CuringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 48)
        self.mid = nn.Linear(48, 48)
        self.moist_head = nn.Linear(48, 1)
        self.hours_head = nn.Linear(48, 1)

    def __call__(self, x):
        h = soft_relu(self.inp(x))
        h = soft_relu(self.mid(h)) + h
        return mx.concatenate([self.moist_head(h), self.hours_head(h)], axis=-1)


net = CuringNet()
mx.eval(net.parameters())
opt = optim.Adagrad(learning_rate=0.04)


def losses(model, x, y):
    err = (model(x) - y) ** 2
    m, h = err[:, 0].mean(), err[:, 1].mean()
    return m + h, (m, h)


vg = nn.value_and_grad(net, losses)
state = [net.state, opt.state]


def step(x, y):
    (tot, (m, h)), g = vg(net, x, y)
    gn = mx.sqrt(sum((v * v).sum() for _, v in tree_flatten(g)))
    opt.update(net, g)
    return tot, m, h, gn


step = mx.compile(step, inputs=state, outputs=state)

# audit: hand-written VJP against autodiff of the plain expression, and that
# every parameter receives gradient.
z = mx.linspace(-6, 6, 101)
g_custom = mx.grad(lambda t: soft_relu(t).sum())(z)
g_auto = mx.grad(lambda t: mx.logaddexp(t, 0.0).sum())(z)
(_, _), g0 = vg(net, mx.array(Xtr_n[:256], dtype=mx.float32), mx.array(Ytr_n[:256], dtype=mx.float32))
nz = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0]
print(f"audit  vjp max|custom-auto| = {mx.abs(g_custom - g_auto).max().item():.2e}   "
      f"params={len(tree_flatten(g0))} zero-grad={nz}")

Xt = mx.array(Xtr_n, dtype=mx.float32)
Yt = mx.array(Ytr_n, dtype=mx.float32)
Xv = mx.array(Xva_n, dtype=mx.float32)
Yv = mx.array(Yva_n, dtype=mx.float32)
B = 256
EPOCHS = 60
t0 = time.time()
hdr = f"{'ep':>4} | {'moist':>8} {'hours':>8} {'total':>8} | {'val':>8} {'ridge':>8} | {'|g|':>7}"
for ep in range(1, EPOCHS + 1):
    perm = mx.random.permutation(Xt.shape[0])
    sm = sh = sg = 0.0
    nb = 0
    for i in range(0, Xt.shape[0] - B + 1, B):
        idx = perm[i:i + B]
        tot, m, h, gn = step(Xt[idx], Yt[idx])
        mx.eval(state, tot, m, h, gn)
        sm += m.item(); sh += h.item(); sg += gn.item(); nb += 1
    vpred = net(Xv)
    vtot = ((vpred - Yv) ** 2).mean(0).sum().item()
    if ep == 1 or ep % 15 == 0:
        print(hdr)
    print(f"{ep:>4} | {sm/nb:8.4f} {sh/nb:8.4f} {(sm+sh)/nb:8.4f} | {vtot:8.4f} {ridge_ref:8.4f} | {sg/nb:7.3f}")
    if ep % 20 == 0:
        pn = math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(net.parameters())))
        print(f"audit  ep={ep} param_norm={pn:.3f} val-ridge={vtot - ridge_ref:+.4f}")

vpred = np.array(net(Xv)) * ys + ym
mae = np.abs(vpred - Yva).mean(0)
rmae = np.abs((feats(Xva_n) @ W) * ys + ym - Yva).mean(0)
print(f"final  moisture MAE {mae[0]:.2f} %-pts (ridge {rmae[0]:.2f})  "
      f"curing-time MAE {mae[1]*60:.0f} min (ridge {rmae[1]*60:.0f})  in {time.time()-t0:.1f}s")
