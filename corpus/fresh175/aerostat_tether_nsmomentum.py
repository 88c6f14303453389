# Tethered aerostat: predict tether tension (kN) from winch telemetry.
# Hand-written orthogonalised-momentum updates (Newton-Schulz, 5 steps) on the 2-D weights,
# hand-written Adam on the biases.  Learning rate ramps up from exactly 0, then SGDR restarts.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(2026)
N_TR, N_VA = 6000, 1500


def telemetry(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    wind = 2 + 16 * u[:, 0]              # m/s at envelope height
    gust = 0.4 * u[:, 1]                 # gust factor
    alt = 150 + 600 * u[:, 2]            # m of tether paid out
    lift_gas = 0.85 + 0.15 * u[:, 3]     # helium purity
    temp = -5 + 35 * u[:, 4]             # degC
    payload = 40 + 160 * u[:, 5]         # kg
    rho = 1.225 * (1 - 2.2e-5 * alt) * (288 / (273 + temp))
    drag = 0.5 * rho * (wind * (1 + gust)) ** 2 * 38.0 / 1000.0
    buoy = 9.81 * (rho * 410 * lift_gas - 0.18 * 410) / 1000.0 - payload * 9.81 / 1000.0
    tension = mx.sqrt(drag ** 2 + buoy ** 2) + 0.0004 * alt + 0.15 * mx.random.normal((n,), key=k2)
    X = mx.stack([wind / 10 - 1, gust * 5 - 1, alt / 450 - 1, (lift_gas - 0.925) * 13,
                  temp / 17.5 - 0.7, payload / 120 - 1], axis=1)
    return X, tension


Xtr, ytr = telemetry(N_TR, mx.random.key(1))
Xva, yva = telemetry(N_VA, mx.random.key(2))
y_mu, y_sd = ytr.mean(), ytr.std()
baseline_rmse = mx.sqrt(((yva - y_mu) ** 2).mean()).item()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.a(x))
        h = h + nn.gelu(self.b(h))
        return self.c(h).squeeze(-1)


net = Net()


def loss_fn(params, x, y):
    net.update(params)
    return ((net(x) - (y - y_mu) / y_sd) ** 2).mean()


grad_fn = mx.compile(mx.value_and_grad(loss_fn))


def newton_schulz(G, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / (mx.linalg.norm(X) + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * (A @ A)) @ X
    return X.T if tall else X


params = dict(tree_flatten(net.parameters()))
mom = {k: mx.zeros_like(v) for k, v in params.items()}
adam_v = {k: mx.zeros_like(v) for k, v in params.items() if v.ndim == 1}
BETA, B2, EPS = 0.9, 0.999, 1e-8
PEAK, WARM, CYCLE0 = 0.05, 60, 300
TOTAL = WARM + CYCLE0 + 2 * CYCLE0   # warm-up then SGDR cycles of 300 and 600 steps


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM       # step 0 -> exactly 0.0
    s, length = step - WARM, CYCLE0
    while s >= length:
        s -= length
        length *= 2
    return PEAK * 0.5 * (1 + math.cos(math.pi * s / length))


def val_rmse():
    net.update(tree_unflatten(list(params.items())))
    pred = net(Xva) * y_sd + y_mu
    return mx.sqrt(((pred - yva) ** 2).mean()).item()


print(json.dumps({"event": "start", "params": sum(v.size for v in params.values()),
                  "baseline_rmse_kN": round(baseline_rmse, 4)}))
t0 = time.time()
BS = 128
for step in range(TOTAL):
    idx = mx.random.randint(0, N_TR, (BS,))
    loss, grads = grad_fn(tree_unflatten(list(params.items())), Xtr[idx], ytr[idx])
    g = dict(tree_flatten(grads))
    lr = lr_at(step)
    t = step + 1
    for k, p in params.items():
        mom[k] = BETA * mom[k] + g[k]
        if p.ndim == 2:
            upd = newton_schulz(g[k] + BETA * mom[k])        # nesterov-style
            scale = max(1.0, p.shape[0] / p.shape[1]) ** 0.5
            params[k] = p - lr * scale * upd
        else:
            adam_v[k] = B2 * adam_v[k] + (1 - B2) * g[k] ** 2
            m_hat = (1 - BETA) * mom[k] / (1 - BETA ** t)    # EMA form of the momentum buffer
            v_hat = adam_v[k] / (1 - B2 ** t)
            params[k] = p - 0.1 * lr * m_hat / (mx.sqrt(v_hat) + EPS)
    mx.eval(params, mom, adam_v, loss)
    if step % 60 == 0 or step == TOTAL - 1:
        rec = {"step": step, "lr": round(lr, 5), "loss_std": round(loss.item(), 5),
               "val_rmse_kN": round(val_rmse(), 4), "baseline_rmse_kN": round(baseline_rmse, 4)}
        if step % 180 == 0:
            W = g["b.weight"]
            O = newton_schulz(W)
            sv = mx.linalg.svd(O, stream=mx.cpu)[1]
            rec["audit"] = {"grad_norm_b": round(mx.linalg.norm(W).item(), 5),
                            "ns_sv_min": round(sv.min().item(), 3), "ns_sv_max": round(sv.max().item(), 3)}
        print(json.dumps(rec), flush=True)

zero_grad = [k for k, v in g.items() if mx.abs(v).max().item() == 0]
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2), "val_rmse_kN": round(val_rmse(), 4),
                  "baseline_rmse_kN": round(baseline_rmse, 4), "zero_grad_params": zero_grad}))
