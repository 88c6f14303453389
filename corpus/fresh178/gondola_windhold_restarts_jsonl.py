"""Cable-car gondola wind-hold call: should the operator stop the line (hold=1) or run?
Synthetic anemometer snapshots -> small MLP, Adam, linear warmup from lr=0 then
cosine cycles with warm restarts (cycle counter + step-in-cycle). One JSON object per log line."""
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)


def make(n):
    wind = rng.gamma(3.0, 3.2, n)                      # mean wind, m/s
    gust = wind * (1.0 + rng.gamma(2.0, 0.18, n))      # gust, m/s
    direction = rng.uniform(0, 2 * np.pi, n)           # rad relative to line
    cross = np.abs(np.sin(direction)) * wind           # crosswind component
    temp = rng.normal(-4.0, 6.0, n)                    # deg C
    icing = ((temp < -2) & (rng.random(n) < 0.35)).astype(np.float64)
    tower = rng.choice([18.0, 24.0, 32.0, 41.0], n)    # highest tower passed, m
    load = rng.uniform(0, 1, n)                        # cabin occupancy fraction
    score = (0.55 * (gust - 17.0) + 0.9 * (cross - 9.0) + 2.2 * icing
             + 0.05 * (tower - 28.0) - 1.2 * load + 0.04 * np.maximum(0, -temp) ** 1.3)
    hold = (score + rng.normal(0, 1.2, n) > 0).astype(np.float32)
    X = np.stack([wind, gust, gust / np.maximum(wind, 0.5), cross, temp, icing, tower, load], 1)
    return X.astype(np.float32), hold


Xtr, ytr = make(6000)
Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
base_acc = 100.0 * max(float(yva.mean().item()), 1 - float(yva.mean().item()))


class HoldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 24)
        self.out = nn.Linear(24, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")


net = HoldNet()
opt = optim.Adam(learning_rate=0.0)
step_fn = nn.value_and_grad(net, loss_fn)

PEAK, WARM, CYCLE, N_CYCLES, BS = 4e-3, 30, 120, 4, 128


def lr_at(t):
    if t < WARM:
        return PEAK * t / WARM                          # t=0 -> exactly 0
    k, s = divmod(t - WARM, CYCLE)
    peak = PEAK * (0.7 ** k)
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * s / CYCLE))


def evaluate():
    logits = net(Xva)
    pred = (logits > 0).astype(mx.float32)
    acc = 100.0 * (pred == yva).mean().item()
    tp = ((pred == 1) & (yva == 1)).sum().item()
    recall = 100.0 * tp / max(1.0, yva.sum().item())
    return loss_fn(net, Xva, yva).item(), acc, recall


# sanity: every trainable tensor receives gradient
_, g0 = step_fn(net, Xtr[:BS], ytr[:BS])
from mlx.utils import tree_flatten
for name, g in tree_flatten(g0):
    assert mx.abs(g).sum().item() > 0, name

total = WARM + CYCLE * N_CYCLES
n = Xtr.shape[0]
t0 = time.time()
perm = np.random.default_rng(0).permutation(n)
ptr = 0
running = []
for t in range(total):
    if ptr + BS > n:
        perm = np.random.default_rng(t).permutation(n)
        ptr = 0
    idx = mx.array(perm[ptr:ptr + BS])
    ptr += BS
    opt.learning_rate = lr_at(t)
    loss, grads = step_fn(net, Xtr[idx], ytr[idx])
    opt.update(net, grads)
    mx.eval(net.parameters(), opt.state, loss)
    running.append(loss.item())
    cyc = -1 if t < WARM else (t - WARM) // CYCLE
    sic = t if t < WARM else (t - WARM) % CYCLE
    if sic % 30 == 0 or sic == (CYCLE - 1):
        vl, acc, rec = evaluate()
        print(json.dumps({"cycle": cyc, "step": sic, "lr": round(lr_at(t), 6),
                          "bce": round(float(np.mean(running)), 4), "val_bce": round(vl, 4),
                          "acc_pct": round(acc, 2), "always_majority_pct": round(base_acc, 2),
                          "hold_recall_pct": round(rec, 2)}))
        running = []

vl, acc, rec = evaluate()
print(json.dumps({"final": True, "val_bce": round(vl, 4), "acc_pct": round(acc, 2),
                  "always_majority_pct": round(base_acc, 2), "hold_recall_pct": round(rec, 2),
                  "seconds": round(time.time() - t0, 1)}))
