"""Avalanche path runout: predict the alpha angle (deg) of the runout tip.

Quantile regression (10 / 50 / 90 %) with a pinball loss so the forecaster
gets a band, not just a point. LR ramps linearly from exactly 0, then runs
cosine cycles with warm restarts (cycle length doubles). One JSON object per
log line; the climatology band (train quantiles, no features) is logged
beside the model for reference.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)
QS = np.array([0.1, 0.5, 0.9], dtype=np.float32)


def make_paths(n):
    drop = rng.uniform(200, 1200, n)            # vertical drop, m
    slope = rng.uniform(25, 45, n)              # track mean slope, deg
    run_slope = rng.uniform(0, 20, n)           # runout zone slope, deg
    forest = rng.uniform(0, 80, n)              # forest cover in track, %
    dry = (rng.uniform(size=n) < 0.6).astype(float)
    curve = rng.uniform(0, 1, n)                # channel curvature index
    log_area = np.log(rng.uniform(0.5, 30, n))  # release area, ha
    alpha = (
        22.0
        + 0.30 * (slope - 35)
        + 0.25 * run_slope
        + 0.04 * forest
        - 2.5 * dry
        + 1.5 * curve * (1 - dry)
        - 1.2 * (log_area - 2.0)
        - 1.5e-3 * (drop - 700)
    )
    # long left tail for dry slab (occasional extreme runouts), narrower for wet
    scale = np.where(dry > 0, 1.6, 0.9)
    noise = -rng.gumbel(0.0, scale) + scale * 0.5772
    y = alpha + noise
    X = np.stack([drop / 1000, slope / 10, run_slope / 10, forest / 50,
                  dry, curve, log_area], 1).astype(np.float32)
    return X, y.astype(np.float32)


Xtr, ytr = make_paths(6000)
Xva, yva = make_paths(1500)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
y_mu = float(ytr.mean())
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
qs = mx.array(QS)


class BandNet(nn.Module):
    def __init__(self, d_in, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, h), nn.GELU(),
                                  nn.Linear(h, h), nn.GELU())
        self.mid = nn.Linear(h, 1)
        self.gaps = nn.Linear(h, 2)   # softplus widths below / above median

    def __call__(self, x):
        z = self.body(x)
        m = self.mid(z)[:, 0] + y_mu
        g = nn.softplus(self.gaps(z)) + 1e-3
        return mx.stack([m - g[:, 0], m, m + g[:, 1]], axis=1)


def pinball(pred, y):
    d = y[:, None] - pred
    return mx.mean(mx.maximum(qs * d, (qs - 1) * d))


def loss_fn(model, x, y):
    return pinball(model(x), y)


def lr_at(step, peak=3e-3, warm=150, first=300):
    if step < warm:
        return peak * step / warm          # step 0 -> lr exactly 0.0
    t = step - warm
    length, cycle = first, 0
    while t >= length:
        t -= length
        length *= 2
        cycle += 1
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * t / length)), cycle


model = BandNet(Xtr.shape[1])
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

# climatology reference band
clim = mx.array(np.quantile(np.array(ytr), QS).astype(np.float32))
clim_val = float(pinball(mx.broadcast_to(clim, (yva.shape[0], 3)), yva))

TOTAL = 150 + 300 + 600 + 1200
BS = 128
n = Xtr.shape[0]
t0 = time.time()
cycle = -1
for step in range(TOTAL):
    r = lr_at(step)
    if isinstance(r, tuple):
        lr, cycle = r
    else:
        lr = r
    opt.learning_rate = lr
    idx = mx.array(rng.integers(0, n, BS))
    loss, grads = vg(model, Xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 75 == 0 or step == TOTAL - 1:
        pv = model(Xva)
        vl = pinball(pv, yva)
        inside = mx.mean((yva >= pv[:, 0]) & (yva <= pv[:, 2]))
        width = mx.mean(pv[:, 2] - pv[:, 0])
        mx.eval(vl, inside, width)
        print(json.dumps({
            "step": step, "cycle": cycle, "lr": round(lr, 6),
            "pinball": round(loss.item(), 4),
            "val_pinball": round(vl.item(), 4),
            "clim_pinball": round(clim_val, 4),
            "band80_cover_pct": round(100 * inside.item(), 1),
            "band80_width_deg": round(width.item(), 2),
        }), flush=True)

print(json.dumps({"done": True, "steps": TOTAL, "secs": round(time.time() - t0, 1),
                  "skill_vs_clim_pct": round(100 * (1 - vl.item() / clim_val), 1)}))
