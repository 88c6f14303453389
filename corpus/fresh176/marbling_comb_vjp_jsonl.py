# Paper marbling studio: how far (mm) does a drop of paint spread on the size bath
# before the comb pass?  Small MLP with a hand-written-VJP activation, SGD+Nesterov,
# LR warm-up that starts at exactly 0, JSON lines per epoch, early stopping with restore.
import json
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.default_rng(2024)
mx.random.seed(2024)
N = 3600
visc = rs.uniform(20, 120, N)         # paint viscosity, mPa.s
carr = rs.uniform(0.8, 2.4, N)        # carrageenan size, g/L
gall = rs.integers(0, 9, N)           # ox-gall drops per 10 mL paint
temp = rs.uniform(14, 28, N)          # bath temperature, deg C
height = rs.uniform(2, 15, N)         # drop height, cm
pigment = rs.uniform(0.05, 0.4, N)    # pigment load, fraction
spread = (9 + 14 * np.log1p(gall) / np.log(9) - 0.06 * visc - 4.0 * (carr - 1.6) ** 2 * 3
          + 0.35 * (temp - 20) + 1.8 * np.sqrt(height) - 10 * pigment * (carr > 1.8)
          + rs.normal(0, 1.1, N))
X = np.stack([visc, carr, gall, temp, height, pigment], 1).astype(np.float32)
y = spread.astype(np.float32)
mu, sd = X[:2600].mean(0), X[:2600].std(0)
X = (X - mu) / sd
Xtr, ytr = mx.array(X[:2600]), mx.array(y[:2600])
Xva, yva = mx.array(X[2600:3100]), mx.array(y[2600:3100])
Xte, yte = mx.array(X[3100:]), mx.array(y[3100:])
y_mean, y_sd = float(y[:2600].mean()), float(y[:2600].std())


@mx.custom_function
def isru(x):
    """inverse square root unit, x / sqrt(1 + x^2)"""
    return x * mx.rsqrt(1 + x * x)


@isru.vjp
def isru_vjp(primals, cotangent, output):
    x = primals          # single input: primals is the array itself
    r = mx.rsqrt(1 + x * x)
    return cotangent * r * r * r


class SpreadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 1)

    def __call__(self, x):
        return self.c(isru(self.b(isru(self.a(x))))).squeeze(-1)


def mse_scaled(m, x, t):
    return ((m(x) - (t - y_mean) / y_sd) ** 2).mean()


def rmse_mm(m, x, t):
    return float(mx.sqrt(((m(x) * y_sd + y_mean - t) ** 2).mean()))


# check the hand-written VJP against central differences
xs = mx.linspace(-3, 3, 13)
g_an = mx.grad(lambda v: isru(v).sum())(xs)
g_fd = (isru(xs + 1e-3) - isru(xs - 1e-3)) / 2e-3
print(f"# vjp check: max |analytic - finite diff| = {float(mx.abs(g_an - g_fd).max()):.2e}")

net = SpreadNet()
mx.eval(net.parameters())
vg = nn.value_and_grad(net, mse_scaled)
_, g = vg(net, Xtr[:256], ytr[:256])
print("# grad norms:", {k: round(float(mx.linalg.norm(v)), 4) for k, v in tree_flatten(g)})

EPOCHS, BS = 80, 64
steps_per_epoch = 2600 // BS
warm = steps_per_epoch * 3
lr = optim.join_schedules([optim.linear_schedule(0.0, 0.05, warm),
                           optim.step_decay(0.05, 0.5, steps_per_epoch * 20)], [warm])
opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)

best, best_ep, best_params, patience, bad = float("inf"), -1, None, 8, 0
t0 = time.time()
for ep in range(EPOCHS):
    lr_now = float(opt.learning_rate)
    perm = mx.array(np.random.default_rng(ep).permutation(2600))
    tot = 0.0
    for i in range(steps_per_epoch):
        sl = perm[i * BS:(i + 1) * BS]
        loss, grads = vg(net, Xtr[sl], ytr[sl])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
    va = rmse_mm(net, Xva, yva)
    rec = {"ep": ep, "lr": round(lr_now, 5), "train_mse_z": round(tot / steps_per_epoch, 4),
           "val_rmse_mm": round(va, 3), "best_mm": round(min(best, va), 3), "bad": bad}
    if va < best - 1e-3:
        best, best_ep, bad = va, ep, 0
        best_params = tree_map(lambda p: mx.array(p), net.parameters())
    else:
        bad += 1
    rec["bad"] = bad
    print(json.dumps(rec))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "ep": ep, "restore_ep": best_ep}))
        break

net.update(best_params)
mx.eval(net.parameters())
print(json.dumps({"summary": True, "restored_ep": best_ep,
                  "val_rmse_mm": round(rmse_mm(net, Xva, yva), 3),
                  "test_rmse_mm": round(rmse_mm(net, Xte, yte), 3),
                  "predict_mean_rmse_mm": round(float(mx.sqrt(((yte - y_mean) ** 2).mean())), 3),
                  "noise_floor_mm": 1.1, "secs": round(time.time() - t0, 1)}))
