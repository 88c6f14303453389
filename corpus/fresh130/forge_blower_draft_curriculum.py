# Blacksmith's shop log: how many seconds per minute the coal-forge blower must run
# to hold welding heat, learned from synthetic heats. Stage 1 = still days with the
# shop doors shut, stage 2 = drafty days with the doors open (harder, noisier). Grads averaged with mx.distributed
# (single process here, works unchanged under mpirun).
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)
world = mx.distributed.init()


def heats(n, gusty):
    amb = rng.uniform(-2, 30, n)            # shop temperature, C
    alt = rng.uniform(100, 1500, n)         # stock cross-section, mm^2
    load = rng.uniform(250, 650, n)         # work in the fire, g
    vol = rng.choice([2200.0, 2800.0, 3400.0, 4200.0], n)  # firepot volume, cm^3
    age = rng.uniform(0, 500, n)            # minutes since clinker was cleared
    gust = rng.uniform(0, 9, n) if gusty else np.zeros(n)  # draft across the hearth, m/s
    # made-up law: more/thicker work, bigger pot, more clinker, draft -> longer blowing
    need = load / (vol * 0.25) * (1 + 0.012 * amb) * (1 + alt / 9000)
    blow = 6 + 14 * need + 0.012 * age + 0.35 * gust ** 1.4 * (1 + 0.004 * age)
    noise = rng.normal(0, 0.4 + (0.12 * gust if gusty else 0), n)
    x = np.stack([amb, alt / 1000, load / 100, vol / 1000, age / 100, gust], 1)
    return x.astype(np.float32), (blow + noise).astype(np.float32)


Xc, yc = heats(3000, gusty=False)
Xg, yg = heats(3000, gusty=True)
Xv, yv = heats(800, gusty=True)
mu, sd = Xg.mean(0), Xg.std(0) + 1e-6
ym, ys = yc.mean(), yc.std()
norm = lambda a: mx.array((a - mu) / sd)

model = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), (y - ym) / ys)


vg = nn.value_and_grad(model, loss_fn)

# one-off audit: every tensor must receive gradient
_, g0 = vg(model, norm(Xg[:256]), mx.array(yg[:256]))
flat = dict(nn.utils.tree_flatten(g0))
print(f"grad audit: {len(flat)} tensors, min norm {min(mx.linalg.norm(v).item() for v in flat.values()):.2e}")

STAGES = [("still", Xc, yc, 250, 2e-3), ("drafty", Xg, yg, 350, 1.5e-3)]


def rmse_s(X, y):
    p = model(norm(X)).squeeze(-1) * ys + ym
    return math.sqrt(mx.mean((p - mx.array(y)) ** 2).item())


for si, (tag, X, y, steps, peak) in enumerate(STAGES, 1):
    # warm restart: lr climbs from exactly 0 again each stage, then cosine down
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 40), optim.cosine_decay(peak, steps - 40, peak * 0.05)], [40])
    opt = optim.Adamax(learning_rate=sched)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, t):
        l, g = vg(model, x, t)
        g = nn.utils.tree_map(lambda a: mx.distributed.all_sum(a) / world.size(), g)
        opt.update(model, g)
        return l

    Xn, t0 = norm(X), time.time()
    run = 0.0
    for k in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(X), 128))
        l = step(Xn[idx], mx.array(y)[idx])
        mx.eval(l, model.parameters(), opt.state)
        run = l.item() if k == 1 else 0.9 * run + 0.1 * l.item()
        if k % 50 == 0 or k == 1:
            bar = "#" * int(20 * k / steps)
            sys.stdout.write(f"stage {si}/2 {tag:>6} |{bar:<20}| {k}/{steps} "
                             f"[{time.time() - t0:4.1f}s, loss={run:.4f}, lr={opt.learning_rate.item():.2e}]\n")
    base = float(np.sqrt(np.mean((yv - y.mean()) ** 2)))
    print(f"  end of {tag}: val RMSE {rmse_s(Xv, yv):.2f} s/min  (mean-blower baseline {base:.2f} s/min)")

print("\n  draft band  | n   | RMSE s/min | baseline")
for lo, hi in [(0, 3), (3, 6), (6, 9)]:
    m = (Xv[:, 5] >= lo) & (Xv[:, 5] < hi)
    print(f"  {lo}-{hi} m/s     | {m.sum():3d} | {rmse_s(Xv[m], yv[m]):10.2f} | {np.std(yv[m]):8.2f}")
