"""Target archery: vertical impact offset of an arrow (metres) and its spread.

The optimiser is sign compression with error feedback (Karimireddy et al. 2019)
written by hand: each leaf sends only sign(p) scaled by mean|p|, and whatever
the sign message dropped is kept in a residual memory and added back on the
next step.  Training runs in two stages: short ranges first, then the long
ranges are added to the pool.  Loss is a Gaussian negative log-likelihood in
metres, so it is negative when the model is sharp.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(23)
mx.random.seed(23)


def shoot(n, distances):
    dist = rng.choice(distances, n).astype(np.float64)
    head = rng.normal(0.0, 2.0, n)              # head(+)/tail(-) wind m/s
    cross = rng.normal(0.0, 2.5, n)             # cross wind m/s
    draw = rng.uniform(36.0, 48.0, n)           # draw weight lb
    grains = rng.uniform(280.0, 360.0, n)       # arrow mass gr
    arrow_no = rng.integers(1, 73, n).astype(np.float64)   # fatigue over the round
    sight = rng.normal(0.0, 1.0, n)             # sight mark error (clicks)
    d = dist / 70.0
    drop = (0.05 * sight * d + 0.012 * head * d ** 2 - 0.06 * (draw - 42.0) / 6.0 * d ** 2
            + 0.05 * (grains - 320.0) / 40.0 * d ** 2 - 0.0006 * arrow_no * d)
    spread = 0.012 + 0.03 * d ** 2 + 0.006 * np.abs(cross) * d + 0.0002 * arrow_no
    y = drop + rng.normal(0.0, 1.0, n) * spread
    x = np.stack([dist / 10.0, head, cross, (draw - 42.0) / 3.0, (grains - 320.0) / 20.0,
                  arrow_no / 24.0, sight], axis=1)
    return x.astype(np.float32), y.astype(np.float32), spread.astype(np.float32)


class Bow(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(7, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mean = nn.Linear(64, 1)
        self.logsd = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logsd(h).squeeze(-1), -7.0, 1.0)


def nll(model, x, y):
    m, s = model(x)
    return mx.mean(s + 0.5 * mx.square((y - m) / mx.exp(s)) + 0.5 * math.log(2 * math.pi))


class SignWithMemory:
    def __init__(self, params):
        self.memory = tree_map(mx.zeros_like, params)

    def step(self, model, grads, lr):
        params = model.trainable_parameters()
        p_msg = tree_map(lambda g, e: lr * g + e, grads, self.memory)
        sent = tree_map(lambda q: mx.mean(mx.abs(q)) * mx.sign(q), p_msg)
        self.memory = tree_map(lambda q, s: q - s, p_msg, sent)
        model.update(tree_map(lambda w, s: w - s, params, sent))

    def memory_norm(self):
        return math.sqrt(sum(mx.sum(mx.square(v)).item() for _, v in tree_flatten(self.memory)))


def evaluate(model, x, y, spread):
    m, s = model(x)
    sd = mx.exp(s)
    z = mx.abs((y - m) / sd)
    return (nll(model, x, y).item(),
            100.0 * mx.mean(z < 1.0).item(),
            100.0 * mx.mean(mx.abs(y - m)).item(),
            float(np.mean(np.log(spread) + 0.5 + 0.5 * math.log(2 * math.pi))))


SHORT, LONG = [18, 30, 50], [18, 30, 50, 70, 90]
xs_tr, ys_tr, _ = shoot(6000, SHORT)
xl_tr, yl_tr, _ = shoot(6000, [70, 90])
xv_s, yv_s, sv_s = shoot(1500, SHORT)
xv_l, yv_l, sv_l = shoot(1500, [70, 90])
Xv_s, Yv_s, Xv_l, Yv_l = map(mx.array, (xv_s, yv_s, xv_l, yv_l))

model = Bow()
mx.eval(model.parameters())
opt = SignWithMemory(model.trainable_parameters())
vg = nn.value_and_grad(model, nll)

WARM, PEAK = 100, 2e-3
STAGES = [("short", SHORT, xs_tr, ys_tr, 1200),
          ("all", LONG, np.concatenate([xs_tr, xl_tr]), np.concatenate([ys_tr, yl_tr]), 1800)]

print("scorecard: loss = Gaussian NLL of the vertical offset in metres (nats/arrow, lower is better)")
for name, xv, yv, sv in (("short val", Xv_s, Yv_s, sv_s), ("long val", Xv_l, Yv_l, sv_l)):
    print(f"  {name}: true-spread NLL floor {evaluate(model, xv, yv, sv)[3]:+.3f}, "
          f"zero-offset mean |err| {100 * float(np.mean(np.abs(np.array(yv)))):.2f} cm")
t0 = time.time()
step = 0
for name, dists, xtr, ytr, n_steps in STAGES:
    print(f"--- stage '{name}': ranges {dists} m, {len(ytr)} arrows in the pool ---")
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    window = []
    for k in range(1, n_steps + 1):
        step += 1
        lr = PEAK * min(1.0, (step - 1) / WARM) if name == "short" else PEAK * 0.5
        idx = mx.array(rng.integers(0, len(ytr), 72))
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if mx.any(g != 0).item())
            print(f"  first step: {nz}/{len(flat)} gradient arrays non-zero, lr {lr:.1e}")
        opt.step(model, grads, lr)
        mx.eval(model.parameters(), opt.memory, loss)
        window.append(loss.item())
        if k % 300 == 0 or k == 1:
            s_nll, s_cov, s_mae, _ = evaluate(model, Xv_s, Yv_s, sv_s)
            l_nll, l_cov, l_mae, _ = evaluate(model, Xv_l, Yv_l, sv_l)
            end = (step - 1) // 6 + 1   # six arrows per end
            print(f"  end {end:3d} step {step:4d} lr {lr:.1e} | train {np.mean(window):+.3f} | "
                  f"short {s_nll:+.3f} in-1sd {s_cov:4.1f}% |err| {s_mae:.2f}cm | "
                  f"long {l_nll:+.3f} in-1sd {l_cov:4.1f}% |err| {l_mae:.2f}cm | "
                  f"memory {opt.memory_norm():.2e} | {time.time() - t0:4.1f}s")
            window = []

print(f"target coverage for in-1sd is 68.3%; done in {time.time() - t0:.1f}s")
