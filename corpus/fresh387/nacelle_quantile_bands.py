import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# wind-farm SCADA: 10-minute power (fraction of rated) from hub wind, direction, density, yaw error, turbulence
rng = np.random.default_rng(11)
N = 12000
v = rng.weibull(2.1, N) * 9.0
wdir = rng.uniform(0, 2 * np.pi, N)
rho = rng.normal(1.22, 0.04, N)
yaw = rng.normal(0, 6, N)
ti = rng.uniform(0.04, 0.25, N)
curve = 1 / (1 + np.exp(-(v - 9.5) / 1.4)) * (v > 3.0) * (v < 25)
wake = 1 - 0.18 * np.exp(-((np.angle(np.exp(1j * (wdir - 4.0)))) ** 2) / 0.08)
p = curve * wake * (rho / 1.22) * np.cos(np.radians(yaw)) ** 2
p = np.clip(p + rng.normal(0, 0.02 + 0.25 * ti * curve * (1 - curve), N), 0, 1.05)
X = np.stack([v, np.sin(wdir), np.cos(wdir), rho, yaw, ti], 1).astype(np.float32)
X = (X - X[:10000].mean(0)) / X[:10000].std(0)
Xtr, Ptr = mx.array(X[:10000]), mx.array(p[:10000].astype(np.float32))
Xte, Pte = mx.array(X[10000:]), mx.array(p[10000:].astype(np.float32))

class Bands(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.q50 = nn.Linear(64, 1)
        self.spread = nn.Linear(64, 2)
    def __call__(self, x):
        h = self.trunk(x)
        mid = self.q50(h)[:, 0]
        s = nn.softplus(self.spread(h))
        return mid - s[:, 0], mid, mid + s[:, 1]

def pinball(q, pred, y):
    d = y - pred
    return mx.maximum(q * d, (q - 1) * d).mean()

def loss_stage1(model, x, y):
    return pinball(0.5, model(x)[1], y)

def loss_stage2(model, x, y):
    lo, mid, hi = model(x)
    return pinball(0.1, lo, y) + pinball(0.5, mid, y) + pinball(0.9, hi, y)

mx.random.seed(0)
model = Bands()
STEPS = 2000

def run_stage(name, loss_fn, freeze_trunk):
    model.unfreeze()
    if freeze_trunk:
        model.trunk.freeze()
        model.q50.freeze()
    opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, STEPS, 5e-5), weight_decay=1e-4)
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        l, g = vg(model, x, y)
        opt.update(model, g)
        return l

    acc, n = 0.0, 0
    t0 = time.perf_counter()
    for it in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, 10000, 64))
        l = step(Xtr[idx], Ptr[idx])
        mx.eval(state, l)
        acc += l.item(); n += 1
        if it % 1000 == 0:
            lo, mid, hi = model(Xte)
            cover = mx.mean((Pte >= lo) & (Pte <= hi)).item() * 100
            width = mx.mean(hi - lo).item()
            mae = mx.abs(mid - Pte).mean().item()
            print(f"[{name}] step {it:>5}  mean pinball {acc / n:.5f}  test MAE {mae:.4f}  "
                  f"p10-p90 cover {cover:5.1f}% (nominal 80.0%)  width {width:.4f}  {time.perf_counter() - t0:5.1f}s", flush=True)
            acc, n = 0.0, 0

print(f"train {Xtr.shape[0]} / test {Xte.shape[0]} records; median-of-train MAE {np.abs(p[10000:] - np.median(p[:10000])).mean():.4f}")
run_stage("median", loss_stage1, freeze_trunk=False)
run_stage("bands ", loss_stage2, freeze_trunk=True)
lo, mid, hi = model(Xte)
for lo_v, hi_v in [(-10, -0.5), (-0.5, 0.5), (0.5, 10)]:
    m = (Xte[:, 0] > lo_v) & (Xte[:, 0] <= hi_v)
    c = (mx.sum(((Pte >= lo) & (Pte <= hi)) * m) / mx.sum(m)).item() * 100
    print(f"wind z in ({lo_v:+.1f},{hi_v:+.1f}]: n={int(mx.sum(m).item()):4d} coverage {c:5.1f}%")
