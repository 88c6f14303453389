# Day-length (photoperiod) regression: hours of daylight from latitude and day of year.
# Pure-function tanh MLP, hand-written SGD with heavy-ball momentum, netstat-style log.
import math, time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)

def daylength(lat_deg, doy):
    decl = 23.44 * np.sin(2 * np.pi * (doy - 81) / 365.0)
    x = -np.tan(np.radians(lat_deg)) * np.tan(np.radians(decl))
    x = np.clip(x, -1.0, 1.0)
    return 24.0 / np.pi * np.arccos(x)

def make(n):
    lat = rng.uniform(-60, 60, n)
    doy = rng.integers(1, 366, n).astype(np.float64)
    y = daylength(lat, doy) + rng.normal(0, 0.1, n)
    X = np.stack([lat / 60.0, np.sin(2 * np.pi * doy / 365), np.cos(2 * np.pi * doy / 365),
                  (lat / 60.0) * np.sin(2 * np.pi * (doy - 81) / 365)], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make(8000)
Xva, yva = make(1500)
mu, sd = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ttr = mx.array((ytr - mu) / sd)

def init(sizes):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"W{i}"] = mx.array(rng.normal(0, 1 / math.sqrt(a), (a, b)).astype(np.float32))
        p[f"b{i}"] = mx.zeros((b,))
    return p

params = init([4, 48, 48, 1])
L = 3

def forward(p, x):
    h = x
    for i in range(L):
        h = h @ p[f"W{i}"] + p[f"b{i}"]
        if i < L - 1:
            h = mx.tanh(h)
    return h[:, 0]

def loss_fn(p, x, t):
    return mx.mean((forward(p, x) - t) ** 2)

vg = mx.value_and_grad(loss_fn)
vel = tree_map(mx.zeros_like, params)
lr, beta = 0.03, 0.9

def val_metrics(p):
    pred = forward(p, Xva) * sd + mu
    err = np.array(pred) - yva
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err)))

print("Active Internet connections (w/o servers)")
print("Proto Recv-Q Send-Q Local Address           Foreign Address         State")
l0, g0 = vg(params, Xtr[:100], ttr[:100])
zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(f"tcp        0      0 gradcheck:{len(tree_flatten(g0))}          zero_leaves:{len(zero)}          ESTABLISHED  loss0={l0.item():.4f}")
r0, m0 = np.sqrt(np.mean((yva - mu) ** 2)), np.mean(np.abs(yva - mu))
print(f"tcp        0      0 baseline:mean           rmse_h:{r0:.3f}            LISTEN       mae_h={m0:.3f}")
t0 = time.time()
n, bs = Xtr.shape[0], 100
for ep in range(1, 19):
    perm = mx.array(rng.permutation(n))
    tot = 0.0
    for s in range(0, n, bs):
        idx = perm[s:s + bs]
        l, g = vg(params, Xtr[idx], ttr[idx])
        vel = tree_map(lambda v, gg: beta * v + gg, vel, g)
        params = tree_map(lambda p, v: p - lr * v, params, vel)
        mx.eval(params, vel, l)
        tot += l.item()
    if ep == 12:
        lr *= 0.3
    rm, ma = val_metrics(params)
    state = "ESTABLISHED" if ep < 18 else "TIME_WAIT"
    print(f"tcp   {ep:4d} {int(1000*(time.time()-t0)):6d} epoch{ep:02d}:train_mse={tot/(n//bs):.4f}  valid:rmse_h={rm:.3f},mae_h={ma:.3f}  {state}  lr={lr:g}")
for lat, doy, name in [(51.5, 172, "london-jun21"), (51.5, 355, "london-dec21"), (0.0, 80, "quito-mar21")]:
    x = mx.array(np.array([[lat / 60, math.sin(2*math.pi*doy/365), math.cos(2*math.pi*doy/365),
                            (lat/60)*math.sin(2*math.pi*(doy-81)/365)]], np.float32))
    p = forward(params, x).item() * sd + mu
    print(f"udp        0      0 probe:{name:14s}   model:{p:.2f}h               true:{daylength(lat, doy):.2f}h")
