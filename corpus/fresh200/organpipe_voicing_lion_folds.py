# Organ-pipe voicing: predict the pitch deviation (cents) of a flue pipe from its
# workshop measurements, 3-fold CV, Lion with warmup from 0, early stop + restore.
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
N = 3000
length_m = rng.uniform(0.15, 2.4, N)          # speaking length
scale_mm = rng.uniform(30, 160, N)            # diameter
cutup = rng.uniform(0.18, 0.36, N)            # mouth cut-up / width
wind_mmwc = rng.uniform(55, 110, N)           # wind pressure, mm water column
flue_mm = rng.uniform(0.4, 1.6, N)            # flue width
temp_c = rng.uniform(12, 26, N)               # church temperature
cents = (
    28 * np.tanh((wind_mmwc - 80) / 25)
    - 35 * (cutup - 0.27) / 0.09 * np.log1p(scale_mm / 60)
    + 1.7 * (temp_c - 18)
    + 9 * np.sin(3 * length_m) * (flue_mm - 1.0)
    - 6 * (scale_mm / length_m / 100 - 0.6)
    + rng.normal(0, 2.0, N)
)
X = np.stack([length_m, scale_mm, cutup, wind_mmwc, flue_mm, temp_c], 1).astype(np.float32)
y = cents.astype(np.float32)
folds = np.array_split(rng.permutation(N), 3)


class Voicer(nn.Module):
    def __init__(self, d_in=6, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def run_fold(k):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    ym, ys = y[tr_idx].mean(), y[tr_idx].std()
    Xtr, Xva = mx.array((X[tr_idx] - mu) / sd), mx.array((X[va_idx] - mu) / sd)
    ytr, yva = mx.array((y[tr_idx] - ym) / ys), mx.array(y[va_idx])
    base_rmse = float(np.sqrt(((y[va_idx] - ym) ** 2).mean()))

    mx.random.seed(100 + k)
    model = Voicer()
    steps_per_epoch, max_epochs = len(tr_idx) // 50, 70
    warm = optim.linear_schedule(0.0, 1e-3, 3 * steps_per_epoch)
    decay = optim.cosine_decay(1e-3, (max_epochs - 3) * steps_per_epoch, 1e-5)
    opt = optim.Lion(learning_rate=optim.join_schedules([warm, decay], [3 * steps_per_epoch]), weight_decay=1e-2)
    mx.eval(model.parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, bad = float("inf"), -1, None, 0
    for ep in range(1, max_epochs + 1):
        perm = mx.array(np.random.default_rng(ep + 7 * k).permutation(len(tr_idx)))
        tot = 0.0
        for i in range(steps_per_epoch):
            b = perm[i * 50:(i + 1) * 50]
            loss = step(Xtr[b], ytr[b])
            mx.eval(state, loss)
            tot += loss.item()
        pred = model(Xva) * ys + ym
        err = pred - yva
        rmse = mx.sqrt(mx.mean(err ** 2)).item()
        within = (mx.abs(err) <= 5.0).astype(mx.float32).mean().item() * 100
        if rmse < best - 1e-3:
            best, best_ep, bad = rmse, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
        if ep == 1 or ep % 5 == 0:
            lr = opt.learning_rate.item()
            print(f"| {k} | {ep:3d} | {tot / steps_per_epoch:8.4f} | {rmse:7.2f} c | {base_rmse:7.2f} c | {within:5.1f}% | {lr:.2e} |")
        if bad >= 8:
            print(f"| {k} | {ep:3d} | early stop, no gain since epoch {best_ep} |")
            break
    model.update(best_w)
    pred = model(Xva) * ys + ym
    final = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
    return final, base_rmse, best_ep


print("| fold | epoch | huber(z) | val rmse | mean-pitch rmse | within 5c | lr |")
print("|---|---|---|---|---|---|---|")
results = [run_fold(k) for k in range(3)]
for k, (r, b, e) in enumerate(results):
    print(f"fold {k}: restored epoch {e}, rmse {r:.2f} cents vs baseline {b:.2f} cents ({100 * (1 - r / b):.1f}% better)")
print(f"cv rmse {np.mean([r for r, _, _ in results]):.2f} cents")
