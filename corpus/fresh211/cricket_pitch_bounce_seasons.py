# Groundsman's bounce model: predict ball bounce height (cm) on a cricket pitch
# from preparation records. Trained season by season; each season brings
# pitches the previous ones never saw (wet spring tracks, then worn late-season
# tracks), and each season restarts its step counter and warms the LR up from 0.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
FEATS = ["roller_passes", "moisture_pct", "grass_mm", "clay_pct", "days_dry", "air_temp_c", "ball_overs"]


def make_pitches(n, season):
    roller = rng.uniform(4, 40, n)
    if season == 0:      # midsummer: dry and hard
        moist = rng.uniform(6, 16, n)
    elif season == 1:    # spring: wet tracks too
        moist = rng.uniform(6, 34, n)
    else:                # late season: everything, plus worn balls
        moist = rng.uniform(6, 34, n)
    grass = rng.uniform(2, 12, n)
    clay = rng.uniform(20, 45, n)
    days = rng.uniform(0, 10, n)
    temp = rng.uniform(8, 32, n)
    overs = rng.uniform(0, 10, n) if season < 2 else rng.uniform(0, 80, n)
    hard = 0.9 * np.sqrt(roller) + 0.35 * clay + 0.8 * days - 0.12 * grass ** 1.3
    soft = np.where(moist > 18, 0.055 * (moist - 18) ** 2, 0.0)     # wet tracks go dead fast
    bounce = 42 + 0.6 * hard - 0.45 * moist - soft + 0.08 * temp - 6.5 * np.log1p(overs / 12)
    bounce = bounce + rng.normal(0, 1.2, n)
    X = np.stack([roller, moist, grass, clay, days, temp, overs], 1)
    return X.astype(np.float32), bounce.astype(np.float32)[:, None]


# fixed scaling from agronomy ranges, so seasons share one input space
LO = np.array([4, 6, 2, 20, 0, 8, 0], np.float32)
HI = np.array([40, 34, 12, 45, 10, 32, 80], np.float32)
Y_MU, Y_SD = 50.0, 8.0


def prep(X, y):
    return mx.array((X - LO) / (HI - LO) * 2 - 1), mx.array((y - Y_MU) / Y_SD)


class BounceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def mae_cm(model, x, y):
    return (mx.abs(model(x) - y).mean() * Y_SD).item()


def bar(done, total, width=20):
    k = int(width * done / total)
    return "#" * k + "." * (width - k)


mx.random.seed(7)
model = BounceNet()
opt = optim.Adafactor(learning_rate=0.0, relative_step=False, scale_parameter=False)
grad_fn = nn.value_and_grad(model, loss_fn)

Xt_all, yt_all = make_pitches(1500, 2)
xt, yt = prep(Xt_all, yt_all)
const_ref = float(np.abs(yt_all - yt_all.mean()).mean())
t0 = time.time()
rows = []
SEASONS = [("midsummer", 240, 3e-3), ("spring-wet", 320, 3e-3), ("late-worn", 320, 2e-3)]
for s, (tag, steps, peak) in enumerate(SEASONS):
    Xs, ys = make_pitches(4000, s)
    Xv, yv = make_pitches(800, s)
    xs, ys_ = prep(Xs, ys)
    xv, yv_ = prep(Xv, yv)
    ref_v = float(np.abs(yv - yv.mean()).mean())
    start_v = mae_cm(model, xv, yv_)
    print(f"season {s + 1}/{len(SEASONS)} {tag}: {xs.shape[0]} pitches, start mae {start_v:.2f}cm (flat-guess {ref_v:.2f}cm)")
    warm = 40
    for step in range(steps):
        lr = peak * step / warm if step < warm else 0.5 * peak * (1 + math.cos(math.pi * (step - warm) / (steps - warm)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, xs.shape[0], 128))
        loss, grads = grad_fn(model, xs[idx], ys_[idx])
        if s == 0 and step == 0:
            norms = {k: float(mx.linalg.norm(g.reshape(-1))) for k, g in tree_flatten(grads)}
            print("  grad audit: " + " ".join(f"{k}={v:.3g}" for k, v in norms.items()))
            assert all(v > 0 for v in norms.values())
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (step + 1) % 80 == 0 or step == 0:
            v = mae_cm(model, xv, yv_)
            print(f"  {tag:>10} |{bar(step + 1, steps)}| {step + 1:3d}/{steps} lr={lr:.2e} huber={loss.item():.4f} val={v:.2f}cm ref={ref_v:.2f}cm")
    end_v = mae_cm(model, xv, yv_)
    test_v = mae_cm(model, xt, yt)
    rows.append((tag, start_v, end_v, test_v))

print()
print(f"{'season':<11}{'start':>8}{'end':>8}{'all-pitch':>11}")
for tag, a, b, c in rows:
    print(f"{tag:<11}{a:>8.2f}{b:>8.2f}{c:>11.2f}")
print(f"flat-guess on all pitches: {const_ref:.2f}cm   noise floor ~0.96cm   ({time.time() - t0:.1f}s)")
