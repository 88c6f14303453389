"""Stained-glass studio: predict pull strength (N) of a soldered lead-came joint.

3-fold cross-validation, AdamW with a linear warm-up that starts at lr = 0
followed by cosine warm restarts.  Results are printed as a markdown table
with the predict-the-mean baseline beside the model.
"""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(7)
mx.random.seed(7)

N = 1800
FEATS = ["came_width_mm", "flux_age_days", "iron_temp_C", "tin_frac", "gap_mm", "humidity_pct"]


def make_joints(n):
    rows, ys = [], []
    for _ in range(n):
        w = random.uniform(4.0, 12.0)
        flux = random.uniform(0, 60)
        temp = random.gauss(370, 25)
        tin = random.uniform(0.4, 0.63)
        gap = abs(random.gauss(0.4, 0.3))
        hum = random.uniform(25, 85)
        wet = 1.0 / (1.0 + math.exp(-(temp - 340) / 12.0))
        strength = (14 * w * wet + 90 * (tin - 0.4) * math.sin(1.5 + 3 * tin)
                    - 18 * gap ** 2 - 0.25 * flux - 0.08 * (hum - 50) * (flux / 30)
                    + random.gauss(0, 4.0))
        rows.append([w, flux, temp, tin, gap, hum])
        ys.append(strength)
    return mx.array(rows), mx.array(ys)


X, Y = make_joints(N)


class JointNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


EPOCHS, BATCH, WARM, CYCLE = 36, 64, 4, 8
K = 3
perm = list(range(N))
random.shuffle(perm)
folds = [perm[i::K] for i in range(K)]

print("| fold | epoch | lr | train_mse_N2 | val_rmse_N | mean_baseline_N |")
print("|---:|---:|---:|---:|---:|---:|")
summary = []
for k in range(K):
    va_idx = mx.array(folds[k])
    tr_idx = mx.array([i for j in range(K) if j != k for i in folds[j]])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    mu, sd = mx.mean(xtr, axis=0), mx.std(xtr, axis=0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    base = math.sqrt(mx.mean((yva - mx.mean(ytr)) ** 2).item())

    steps_per_epoch = xtr.shape[0] // BATCH
    warm = optim.linear_schedule(0.0, 3e-3, WARM * steps_per_epoch)
    cos = optim.cosine_decay(3e-3, CYCLE * steps_per_epoch, 1e-5)

    def sched(step, warm=warm, cos=cos):
        w_steps = WARM * steps_per_epoch
        if step < w_steps:
            return warm(step)
        return cos((step - w_steps) % (CYCLE * steps_per_epoch))

    model = JointNet()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    vg = nn.value_and_grad(model, mse)
    gstep = 0
    if k == 0:
        _, g0 = vg(model, xtr[:256], ytr[:256])
        zero = [n for n, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
        print(f"<!-- grad check: {len(tree_flatten(g0))} tensors, zero-grad: {zero} -->")
    for ep in range(1, EPOCHS + 1):
        order = mx.array(random.sample(range(xtr.shape[0]), xtr.shape[0]))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * BATCH:(b + 1) * BATCH]
            opt.learning_rate = sched(gstep)
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            gstep += 1
        if ep in (1, 2, WARM, WARM + CYCLE, WARM + CYCLE + 1, WARM + 2 * CYCLE + 1) or ep % 6 == 0:
            lr_now = opt.learning_rate.item()
            vr = math.sqrt(mse(model, xva, yva).item())
            print(f"| {k} | {ep} | {lr_now:.2e} | {tot / steps_per_epoch:.2f} | {vr:.3f} | {base:.3f} |")
    vr = math.sqrt(mse(model, xva, yva).item())
    summary.append((vr, base))

cv = sum(v for v, _ in summary) / K
cb = sum(b for _, b in summary) / K
print()
print(f"CV RMSE {cv:.3f} N  vs  mean-baseline {cb:.3f} N  ({100 * (1 - cv / cb):.1f}% lower)")
