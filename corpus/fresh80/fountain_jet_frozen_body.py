"""Fountain jet height: pretrain on brass nozzles, then reuse the body frozen
for a small set of new ceramic nozzles and fit only a fresh head.
Hand-written SGD with momentum over tree_map, learning rate warm-up from 0."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)


def make_jets(n, nozzle):
    # pump pressure (kPa), nozzle diameter (mm), wind (m/s), water temp (C), tilt (deg)
    p = rng.uniform(50, 400, n)
    d = rng.uniform(4, 20, n)
    w = rng.uniform(0, 8, n)
    t = rng.uniform(4, 30, n)
    tilt = rng.uniform(0, 15, n)
    v2 = 2 * p * 1000 / 1000.0           # v^2 = 2 p / rho
    loss_coef = 0.12 if nozzle == "brass" else 0.21
    h = v2 / (2 * 9.81) * (1 - loss_coef * 6 / d) * np.cos(np.radians(tilt)) ** 2
    h = h * (1 - 0.015 * w ** 1.3) + 0.01 * (t - 15)
    h = h + rng.normal(0, 0.25, n)
    x = np.stack([p, d, w, t, tilt], 1).astype(np.float32)
    return x, h.astype(np.float32)


class Scaler:
    def fit(self, x):
        self.m, self.s = x.mean(0), x.std(0)
        return self

    def __call__(self, x):
        return (x - self.m) / self.s


class JetNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class MomentumSGD:
    def __init__(self, mu=0.9):
        self.mu = mu
        self.vel = None

    def step(self, model, grads, lr):
        if self.vel is None:
            self.vel = tree_map(mx.zeros_like, grads)
        self.vel = tree_map(lambda v, g: self.mu * v + g, self.vel, grads)
        new = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), self.vel)
        model.update(new)
        mx.eval(model.parameters(), self.vel)


def warmup(step, peak, n_warm):
    return peak * min(1.0, (step - 1) / n_warm)   # exactly 0 at step 1


def rmse_m(model, x, y, ysd):
    pred = model(x)
    return float(mx.sqrt(mx.mean((pred - y) ** 2)).item()) * ysd


def run_stage(tag, model, xtr, ytr, xva, yva, ysd, epochs, peak, n_warm, bs):
    opt = MomentumSGD()
    vg = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    step = 0
    print(f"{tag:<9} epoch  0  lr -          train mse(std) -       valid rmse {rmse_m(model, xva, yva, ysd):7.3f} m")
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            step += 1
            lr = warmup(step, peak, n_warm)
            loss, grads = vg(model, xtr[idx], ytr[idx])
            if step == 1:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
                print(f"{tag:<9} first step: {len(flat)} trainable leaves, zero-gradient leaves {zero}, lr {lr:.1e}")
            opt.step(model, grads, lr)
            tot += loss.item()
            cnt += 1
        print(f"{tag:<9} epoch {ep:2d}  lr {lr:.1e}  train mse(std) {tot / cnt:.4f}  valid rmse {rmse_m(model, xva, yva, ysd):7.3f} m  ({time.time() - t0:.1f}s)")


# ---- stage 1: brass nozzles, plenty of data, whole net trains
xb, hb = make_jets(32000, "brass")
xs = Scaler().fit(xb)
ym, ysd = hb.mean(), hb.std()
Xb = mx.array(xs(xb)); Yb = mx.array((hb - ym) / ysd)
Xbtr, Ybtr, Xbva, Ybva = Xb[:30000], Yb[:30000], Xb[30000:], Yb[30000:]
print(f"brass jets: {Xbtr.shape[0]} train / {Xbva.shape[0]} valid, height sd {ysd:.2f} m, noise 0.25 m")

mx.random.seed(3)
model = JetNet()
mx.eval(model.parameters())
run_stage("pretrain", model, Xbtr, Ybtr, Xbva, Ybva, ysd, epochs=8, peak=0.02, n_warm=150, bs=64)

# ---- stage 2: ceramic nozzles, few samples: freeze the body, fresh head
xc, hc = make_jets(1400, "ceramic")
Xc = mx.array(xs(xc)); Yc = mx.array((hc - ym) / ysd)
Xctr, Yctr, Xcva, Ycva = Xc[:400], Yc[:400], Xc[400:], Yc[400:]
body_before = {k: np.array(v) for k, v in tree_flatten(model.body.parameters())}
model.body.freeze()
model.head = nn.Linear(64, 1)
mx.eval(model.parameters())
n_tr = len(tree_flatten(model.trainable_parameters()))
n_all = len(tree_flatten(model.parameters()))
print(f"ceramic jets: {Xctr.shape[0]} train / {Xcva.shape[0]} valid; body frozen, {n_tr} of {n_all} leaves train")
run_stage("transfer", model, Xctr, Yctr, Xcva, Ycva, ysd, epochs=25, peak=0.01, n_warm=40, bs=32)
drift = max(float(np.abs(np.array(v) - body_before[k]).max()) for k, v in tree_flatten(model.body.parameters()))
print(f"done: frozen body max change {drift:.1e}; predict-mean rmse {float(np.std(hc[400:])):.3f} m")
