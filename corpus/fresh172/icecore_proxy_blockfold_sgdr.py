"""Ice-core proxy calibration: temperature anomaly (degC) and snow accumulation
(cm ice / yr) from six chemistry measurements of each annual layer.

Blocked 4-fold cross-validation over depth sections, AdamW with a warm-up from
zero learning rate followed by cosine warm restarts.  Ridge regression on the
same features is printed beside every fold as the reference.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s icecore | %(message)s")
log = logging.getLogger("icecore")

rng = np.random.default_rng(2024)
N = 3200
depth = np.linspace(40.0, 1240.0, N)                       # metres
d18o = -35.0 + 2.2 * np.sin(depth / 95.0) + rng.normal(0, 0.9, N)   # per mil
dxs = 9.0 - 0.6 * (d18o + 35.0) + rng.normal(0, 1.1, N)            # per mil
dust = 1.2 - 0.35 * (d18o + 35.0) + rng.normal(0, 0.4, N)          # log ppb
sodium = 2.0 + 0.25 * np.cos(depth / 60.0) + rng.normal(0, 0.3, N)
sulfate = 1.0 + rng.gamma(2.0, 0.25, N)
conduct = 0.6 * sulfate + 0.3 * sodium + rng.normal(0, 0.2, N)

temp = 1.6 * (d18o + 35.0) - 0.25 * (dxs - 9.0) + 0.6 * np.tanh(dust - 1.0) * (sodium - 2.0) + rng.normal(0, 0.35, N)
accum = 22.0 * np.exp(0.07 * temp) * (1.0 + 0.05 * (sodium - 2.0)) + rng.normal(0, 0.8, N)

X = np.stack([d18o, dxs, dust, sodium, sulfate, conduct], 1).astype(np.float32)
Y = np.stack([temp, accum], 1).astype(np.float32)


class ProxyNet(nn.Module):
    def __init__(self, d_in=6, width=48):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.hid = nn.Linear(width, width)
        self.temp_head = nn.Linear(width, 1)
        self.accum_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = h + nn.gelu(self.hid(h))
        return self.temp_head(h)[:, 0], self.accum_head(h)[:, 0]


def losses(model, x, yt, ya):
    pt, pa = model(x)
    lt = nn.losses.huber_loss(pt, yt, delta=1.0, reduction="mean")
    la = nn.losses.huber_loss(pa, ya, delta=1.0, reduction="mean")
    return lt + 0.5 * la, (lt, la)


def total_loss(model, x, yt, ya):
    return losses(model, x, yt, ya)[0]


WARM, CYCLE, N_CYCLES, PEAK = 40, 160, 3, 3e-3
boundaries = [WARM + c * CYCLE for c in range(N_CYCLES)]
schedule_parts = [optim.linear_schedule(0.0, PEAK, WARM)] + [optim.cosine_decay(PEAK, CYCLE, 3e-5) for _ in range(N_CYCLES)]
TOTAL_STEPS = WARM + N_CYCLES * CYCLE
BATCH = 96
K = 4
edges = np.linspace(0, N, K + 1).astype(int)
report = []
t_start = time.time()

for fold in range(K):
    va = np.arange(edges[fold], edges[fold + 1])
    tr = np.setdiff1d(np.arange(N), va)
    mu, sd = X[tr].mean(0), X[tr].std(0)
    ymu, ysd = Y[tr].mean(0), Y[tr].std(0)
    xtr = mx.array((X[tr] - mu) / sd)
    xva = mx.array((X[va] - mu) / sd)
    ytr = mx.array((Y[tr] - ymu) / ysd)
    yva_raw = Y[va]

    # reference: ridge regression on the standardised features
    A = np.concatenate([(X[tr] - mu) / sd, np.ones((len(tr), 1), np.float32)], 1)
    W = np.linalg.solve(A.T @ A + 1e-2 * np.eye(A.shape[1]), A.T @ ((Y[tr] - ymu) / ysd))
    Av = np.concatenate([(X[va] - mu) / sd, np.ones((len(va), 1), np.float32)], 1)
    ridge = Av @ W * ysd + ymu
    ridge_rmse = np.sqrt(((ridge - yva_raw) ** 2).mean(0))

    mx.random.seed(100 + fold)
    model = ProxyNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=optim.join_schedules(schedule_parts, boundaries), weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, total_loss)

    if fold == 0:
        _, g0 = step_fn(model, xtr[:BATCH], ytr[:BATCH, 0], ytr[:BATCH, 1])
        norms = {k: float(mx.linalg.norm(v.reshape(-1)).item()) for k, v in tree_flatten(g0)}
        zero = [k for k, v in norms.items() if v == 0.0]
        log.info("audit: %d parameter arrays, %d with zero gradient, global grad norm %.4f",
                 len(norms), len(zero), math.sqrt(sum(v * v for v in norms.values())))

    log.info("fold %d/%d: train layers %d, held-out depth %.0f-%.0f m", fold + 1, K, len(tr), depth[va[0]], depth[va[-1]])
    step = 0
    best = (float("inf"), None)
    while step < TOTAL_STEPS:
        perm = mx.random.permutation(xtr.shape[0])
        for i in range(0, xtr.shape[0] - BATCH + 1, BATCH):
            if step >= TOTAL_STEPS:
                break
            idx = perm[i:i + BATCH]
            lr_now = opt.learning_rate.item()
            loss, grads = step_fn(model, xtr[idx], ytr[idx, 0], ytr[idx, 1])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            if step % 40 == 0:
                pt, pa = model(xva)
                pt = np.array(pt) * ysd[0] + ymu[0]
                pa = np.array(pa) * ysd[1] + ymu[1]
                rt = float(np.sqrt(((pt - yva_raw[:, 0]) ** 2).mean()))
                ra = float(np.sqrt(((pa - yva_raw[:, 1]) ** 2).mean()))
                _, (lt, la) = losses(model, xtr[idx], ytr[idx, 0], ytr[idx, 1])
                log.info("fold %d step %3d lr %.2e | huber temp %.4f accum %.4f | val rmse %.3f degC %.3f cm/yr (ridge %.3f / %.3f)",
                         fold + 1, step, lr_now, lt.item(), la.item(), rt, ra, ridge_rmse[0], ridge_rmse[1])
                if rt < best[0]:
                    best = (rt, ra)
    report.append((fold + 1, best[0], best[1], ridge_rmse[0], ridge_rmse[1]))

print("fold | net temp degC | net accum cm/yr | ridge temp | ridge accum")
for f, a, b, c, d in report:
    print(f"{f:4d} | {a:13.3f} | {b:15.3f} | {c:10.3f} | {d:11.3f}")
m = np.array([r[1:] for r in report]).mean(0)
print(f"mean | {m[0]:13.3f} | {m[1]:15.3f} | {m[2]:10.3f} | {m[3]:11.3f}")
print(f"wall {time.time() - t_start:.1f}s")
